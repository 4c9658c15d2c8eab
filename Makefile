# supportd — see README.md. Every target works offline on a fresh clone except that
# `make test` installs Dovecot and Postfix (Debian) and Mailpit (Go proxy) on first use.
GO        ?= go
PKGS      := ./...
PURE      := mailparse entitlement sla versions triage
FUZZTIME  ?= 20s
export CI_FUZZTIME := $(FUZZTIME)

.PHONY: all build test test-unit testenv lint fuzz fuzz-long bench demo torture clean install deb

all: build

build:
	$(GO) build -buildvcs=auto -o bin/supportd ./cmd/supportd

testenv:
	scripts/testenv install

## test: lint, the whole test suite with -race against real Dovecot, Postfix and Mailpit, then
## the bounded fuzz runs.
test: testenv lint
	SUPPORTD_REQUIRE_SERVERS=1 $(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(GO) test -count=1 -run 'TestExtractorsLinear' ./mailparse   # timing ratios: without the race detector
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

test-unit:
	$(GO) test -count=1 $(PKGS)

## lint: gofmt, vet, the pure core's imports, no testing in binaries, go mod tidy,
## staticcheck and deadcode (both installed by scripts/lint-tools at pinned versions).
lint:
	@echo "gofmt"; out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	scripts/check-imports $(PURE)
	@echo "no testing in shipped binaries"; if $(GO) list -deps ./cmd/... | grep -qx testing; then echo "a command links package testing"; exit 1; fi
	$(GO) mod tidy -diff
	"$$(scripts/lint-tools)/staticcheck" ./...
	scripts/deadcode

## fuzz: every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m for longer).
fuzz:
	scripts/fuzz $(FUZZTIME)

## fuzz-long: 10 minutes per target, keeping what the fuzzer found under each
## package's testdata/fuzz (commit it: it becomes part of every `go test`).
fuzz-long:
	FUZZ_KEEP=1 scripts/fuzz 10m

bench:
	scripts/bench

## demo: the whole flow on in-process servers, then the staff dashboard's URL;
## make demo ARGS=--serve keeps the dashboard open until Ctrl-C.
demo:
	$(GO) run ./cmd/supportd demo $(ARGS)

clean:
	rm -rf bin dist

## install: binary, systemd unit, sysusers entry, example configuration and the
## operator guide under $(DESTDIR)$(PREFIX) (configuration under $(SYSCONFDIR));
## the unit names the installed paths. docs/operations.md: what comes next.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR     ?= $(PREFIX)/share/doc/supportd
install: build
	install -D -m 0755 bin/supportd $(DESTDIR)$(BINDIR)/supportd
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/supportd
	sed -e 's#/usr/bin/supportd#$(BINDIR)/supportd#g' -e 's#/etc/supportd/#$(SYSCONFDIR)/supportd/#g' \
		-e 's#/usr/share/doc/supportd/#$(DOCDIR)/#g' packaging/supportd.service > $(DESTDIR)$(UNITDIR)/supportd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/supportd.service
	install -D -m 0644 packaging/supportd.sysusers $(DESTDIR)$(SYSUSERSDIR)/supportd.conf
	install -m 0644 config.example.yaml $(DESTDIR)$(SYSCONFDIR)/supportd/supportd.example.yaml
	install -D -m 0644 docs/operations.md $(DESTDIR)$(DOCDIR)/operations.md

## deb: dist/supportd_<version>_<arch>.deb built with nfpm (scripts/nfpm installs
## the pinned version on first use): a static binary, the unit, the sysusers
## entry, the example configuration in /etc/supportd/.
DIST           ?= dist
DEB_ARCH       ?= $(shell $(GO) env GOARCH)
DEB_VERSION    ?= 0.1.0~git$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
deb:
	mkdir -p $(DIST)
	CGO_ENABLED=0 GOARCH=$(DEB_ARCH) $(GO) build -trimpath -o bin/deb/supportd ./cmd/supportd
	SUPPORTD_VERSION='$(DEB_VERSION)' SUPPORTD_ARCH='$(DEB_ARCH)' \
		scripts/nfpm package --config packaging/nfpm.yaml --packager deb --target $(DIST)/

## torture: the long crash-torture run (≥ 50 SIGKILLs over ≥ 1,000 messages).
torture: testenv
	scripts/torture
