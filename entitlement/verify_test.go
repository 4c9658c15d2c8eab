package entitlement

import (
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"

	"supportd/mailparse"
)

func TestVerified(t *testing.T) {
	trusted := []string{"mx.vendor.test", "Filter.Vendor.Test"}
	tests := []struct {
		name    string
		headers []string
		from    string
		want    bool
	}{
		{"dmarc pass", []string{"mx.vendor.test; dmarc=pass header.from=acme.test"}, "acme.test", true},
		// Issue 13 item 2: a result without the domain it judged verifies nothing.
		{"dmarc pass, no header.from", []string{"mx.vendor.test; spf=fail; dmarc=pass"}, "acme.test", false},
		{"dkim pass for another domain, dmarc pass without header.from", []string{"mx.vendor.test; dkim=pass header.d=evil.test; dmarc=pass"}, "acme.test", false},
		{"dmarc pass, empty header.from", []string{"mx.vendor.test; dmarc=pass header.from="}, "acme.test", false},
		{"dmarc pass for a subdomain is not the From domain", []string{"mx.vendor.test; dmarc=pass header.from=mail.acme.test"}, "acme.test", false},
		{"dkim pass, same registrable domain under a public suffix", []string{"mx.vendor.test; dkim=pass header.d=acme.co.uk"}, "mail.acme.co.uk", true},
		{"dkim pass, sibling under a public suffix", []string{"mx.vendor.test; dkim=pass header.d=evil.co.uk"}, "acme.co.uk", false},
		{"dkim pass, public suffix itself", []string{"mx.vendor.test; dkim=pass header.d=co.uk"}, "acme.co.uk", false},
		{"dmarc pass for another domain", []string{"mx.vendor.test; dmarc=pass header.from=evil.test"}, "acme.test", false},
		{"dmarc fail", []string{"mx.vendor.test; dmarc=fail header.from=acme.test"}, "acme.test", false},
		{"dmarc none", []string{"mx.vendor.test; dmarc=none header.from=acme.test"}, "acme.test", false},
		{"spf pass only", []string{"mx.vendor.test; spf=pass smtp.mailfrom=acme.test"}, "acme.test", false},
		{"dkim pass aligned", []string{"mx.vendor.test; dkim=pass header.d=acme.test"}, "acme.test", true},
		{"dkim pass aligned, upper case", []string{"MX.VENDOR.TEST; DKIM=PASS header.d=ACME.test"}, "Acme.Test", true},
		{"dkim pass parent domain", []string{"mx.vendor.test; dkim=pass header.d=acme.test"}, "mail.acme.test", true},
		{"dkim pass subdomain", []string{"mx.vendor.test; dkim=pass header.d=mail.acme.test"}, "acme.test", true},
		{"dkim pass via header.i", []string{"mx.vendor.test; dkim=pass header.i=@acme.test"}, "acme.test", true},
		{"dkim pass unaligned", []string{"mx.vendor.test; dkim=pass header.d=mailer.example"}, "acme.test", false},
		{"dkim pass lookalike", []string{"mx.vendor.test; dkim=pass header.d=notacme.test"}, "acme.test", false},
		{"dkim pass tld", []string{"mx.vendor.test; dkim=pass header.d=test"}, "acme.test", false},
		{"dkim fail aligned", []string{"mx.vendor.test; dkim=fail header.d=acme.test"}, "acme.test", false},
		{"dkim pass no domain", []string{"mx.vendor.test; dkim=pass"}, "acme.test", false},
		{"untrusted authserv-id", []string{"mx.evil.test; dmarc=pass header.from=acme.test"}, "acme.test", false},
		{"trusted id case-insensitive", []string{"filter.vendor.test; dmarc=pass header.from=acme.test"}, "acme.test", true},
		{"untrusted then trusted fail", []string{"mx.vendor.test; dmarc=fail", "mx.evil.test; dmarc=pass"}, "acme.test", false},
		{"forged copy of our id below ours", []string{"mx.vendor.test; dmarc=fail header.from=acme.test", "mx.vendor.test; dmarc=pass header.from=acme.test"}, "acme.test", false},
		{"second trusted id passes", []string{"mx.vendor.test; spf=pass", "filter.vendor.test; dkim=pass header.d=acme.test"}, "acme.test", true},
		{"comments", []string{"mx.vendor.test (Postfix) 1; dkim=pass (2048-bit key; unprotected) header.d=acme.test header.i=@acme.test (comment (nested)); dmarc=pass (p=NONE) header.from=acme.test"}, "acme.test", true},
		{"version 2 rejected", []string{"mx.vendor.test 2; dmarc=pass"}, "acme.test", false},
		{"garbage", []string{"\x00\xff;;==;(((", "", ";", "mx.vendor.test; dmarc"}, "acme.test", false},
		{"malformed trusted header consumes its turn", []string{"mx.vendor.test; dmarc", "mx.vendor.test; dmarc=pass"}, "acme.test", false},
		{"no from domain", []string{"mx.vendor.test; dmarc=pass"}, "", false},
		{"no headers", nil, "acme.test", false},
		{"none result", []string{"mx.vendor.test; none"}, "acme.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verified(tt.headers, trusted, tt.from, publicsuffix.EffectiveTLDPlusOne); got != tt.want {
				t.Fatalf("Verified(%q, %q) = %v, want %v", tt.headers, tt.from, got, tt.want)
			}
		})
	}
	if Verified([]string{"mx.vendor.test; dmarc=pass header.from=acme.test"}, nil, "acme.test", nil) {
		t.Error("verified with no trusted ids")
	}
	// Without a public-suffix list, alignment is the subdomain relation.
	for _, c := range []struct {
		d, from string
		want    bool
	}{{"acme.test", "mail.acme.test", true}, {"mail.acme.test", "acme.test", true}, {"evil.test", "acme.test", false}, {"test", "acme.test", false}} {
		if got := Verified([]string{"mx.vendor.test; dkim=pass header.d=" + c.d}, trusted, c.from, nil); got != c.want {
			t.Errorf("no list: dkim d=%s for From %s: %v, want %v", c.d, c.from, got, c.want)
		}
	}
}

func TestStripComments(t *testing.T) {
	tests := map[string]string{
		"a (b) c":          "a   c",
		"a (b (c) d) e":    "a   e",
		`a "(not) x" (y)`:  `a "(not) x"  `,
		`a (b \) c) d`:     "a   d",
		"unterminated (x":  "unterminated ",
		`q "a\"b" (c)`:     `q "a\"b"  `,
		"no comment":       "no comment",
		"dkim=pass (x) h=": "dkim=pass   h=",
	}
	for in, want := range tests {
		if got := StripComments(in); got != want {
			t.Errorf("StripComments(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzVerified(f *testing.F) {
	f.Add("mx.vendor.test; dmarc=pass header.from=acme.test", "acme.test")
	f.Add("mx.vendor.test (c) 1; dkim=pass (x) header.d=acme.test; spf=fail", "acme.test")
	f.Add("mx.vendor.test; dkim=pass header.i=@sub.acme.test", "acme.test")
	f.Add("((((;;;==\"\\", "")
	f.Add("mx.vendor.test 1; =; a=b=c; dmarc=", "x")
	f.Fuzz(func(t *testing.T, header, from string) {
		trusted := []string{"mx.vendor.test"}
		got := Verified([]string{header}, trusted, from, publicsuffix.EffectiveTLDPlusOne)
		// Untrusted ids never verify, whatever the content.
		if got {
			id := strings.ToLower(strings.TrimSpace(strings.SplitN(StripComments(header), ";", 2)[0]))
			if f := strings.Fields(id); len(f) == 0 || f[0] != "mx.vendor.test" {
				t.Fatalf("verified with authserv-id %q", id)
			}
			if !strings.Contains(strings.ToLower(header), "pass") {
				t.Fatalf("verified without a pass: %q", header)
			}
		}
		// Determinism.
		if Verified([]string{header}, trusted, from, publicsuffix.EffectiveTLDPlusOne) != got {
			t.Fatal("non-deterministic")
		}
		_ = StripComments(header)
	})
}

func TestReplyTarget(t *testing.T) {
	from := &mailparse.Address{Name: "Alice", Addr: "alice@acme.test"}
	tests := []struct {
		name     string
		m        *mailparse.Message
		verified bool
		want     string
		wantUsed bool
	}{
		{"no reply-to", &mailparse.Message{From: from}, false, "alice@acme.test", false},
		{"hijack, unverified", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "thief@evil.test"}}}, false, "alice@acme.test", false},
		{"other domain, verified", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "helpdesk@partner.test"}}}, true, "helpdesk@partner.test", true},
		{"same domain, unverified", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "it@ACME.test"}}}, false, "it@ACME.test", true},
		{"subdomain is another domain, unverified", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "it@mail.acme.test"}}}, false, "alice@acme.test", false},
		{"first acceptable reply-to", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "x@evil.test"}, {Addr: "team@acme.test"}}}, false, "team@acme.test", true},
		{"bogus reply-to skipped", &mailparse.Message{From: from, ReplyTo: []mailparse.Address{{Addr: "a@acme.test\r\nBcc: x@y"}}}, true, "alice@acme.test", false},
		{"no from", &mailparse.Message{ReplyTo: []mailparse.Address{{Addr: "x@acme.test"}}}, true, "", false},
		{"bogus from", &mailparse.Message{From: &mailparse.Address{Addr: "not an address"}}, true, "", false},
		{"nil message", nil, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used := ReplyTarget(tt.m, tt.verified)
			if got != tt.want || used != tt.wantUsed {
				t.Fatalf("ReplyTarget = %q,%v want %q,%v", got, used, tt.want, tt.wantUsed)
			}
		})
	}
}
