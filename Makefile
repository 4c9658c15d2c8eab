# supportd — see README.md. Every target works offline on a fresh clone except that
# `make test` installs Dovecot (Debian) and Mailpit (Go proxy) on first use.
GO        ?= go
PKGS      := ./...
PURE      := mailparse entitlement sla versions triage
FUZZTIME  ?= 20s
export CI_FUZZTIME := $(FUZZTIME)

.PHONY: all build test test-unit testenv lint fuzz fuzz-long bench demo torture clean

all: build

build:
	$(GO) build -o bin/supportd ./cmd/supportd

testenv:
	scripts/testenv install

## test: lint, the whole test suite with -race against real Dovecot and Mailpit, then
## the bounded fuzz runs.
test: testenv lint
	SUPPORTD_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

test-unit:
	$(GO) test -count=1 $(PKGS)

lint:
	@echo "gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	scripts/check-imports $(PURE)
	@echo "no testing in shipped binaries"; if $(GO) list -deps ./cmd/... | grep -qx testing; then echo "a command links package testing"; exit 1; fi

## fuzz: every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m for longer).
fuzz:
	scripts/fuzz $(FUZZTIME)

## fuzz-long: 10 minutes per target, keeping what the fuzzer found under each
## package's testdata/fuzz (commit it: it becomes part of every `go test`).
fuzz-long:
	FUZZ_KEEP=1 scripts/fuzz 10m

bench:
	scripts/bench

demo:
	$(GO) run ./cmd/supportd demo

clean:
	rm -rf bin

## torture: the long crash-torture run (≥ 50 SIGKILLs over ≥ 1,000 messages).
torture: testenv
	scripts/torture
