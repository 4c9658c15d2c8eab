package mailparse

import (
	"slices"
	"strings"
	"testing"
)

// TestFromOneReading (issue 13 item 1): the From that entitlement is
// checked for (Author) is the one mailbox a DMARC check judges. A From that
// is not exactly one mailbox has no author, records ambiguous_from, and
// keeps as From only the single address MTAs read (for the reply), never
// the address a forger put in the display name.
func TestFromOneReading(t *testing.T) {
	tests := []struct {
		name, from string
		author     string // "" for none
		reply      string // From.Addr; "" for a nil From
	}{
		{"plain mailbox", "Bob Smith <Bob.Smith@Acme.test>", "bob.smith@acme.test", "bob.smith@acme.test"},
		{"address as display name", "ceo@acme.test <attacker@evil.test>", "", "attacker@evil.test"},
		{"without the space", "ceo@acme.test<attacker@evil.test>", "", "attacker@evil.test"},
		{"folded", "ceo@acme.test\r\n <attacker@evil.test>", "", "attacker@evil.test"},
		{"folded with a tab", "ceo@acme.test\r\n\t<attacker@evil.test>", "", "attacker@evil.test"},
		{"comment before the angle-addr", "ceo@acme.test (CEO) <attacker@evil.test>", "", "attacker@evil.test"},
		{"as a list", "ceo@acme.test, attacker@evil.test", "", ""},
		{"as a list, angle-addr second", "ceo@acme.test, <attacker@evil.test>", "", ""},
		{"as a list of angle-addrs", "<ceo@acme.test> <attacker@evil.test>", "", ""},
		{"as a group named by the address", "ceo@acme.test: <attacker@evil.test>;", "", "attacker@evil.test"},
		{"as a group of two", "Acme: ceo@acme.test, attacker@evil.test;", "", ""},
		{"as a group around the forgery", "Acme: ceo@acme.test <attacker@evil.test>;", "", "attacker@evil.test"},
		{"as a group of one", "Acme: attacker@evil.test;", "", "attacker@evil.test"},
		{"empty group", "undisclosed-recipients:;", "", ""},
		{"quoted display name", `"ceo@acme.test" <attacker@evil.test>`, "attacker@evil.test", "attacker@evil.test"},
		{"encoded display name", "=?utf-8?q?ceo=40acme.test?= <attacker@evil.test>", "attacker@evil.test", "attacker@evil.test"},
		{"comment holding the address", "attacker@evil.test (ceo@acme.test)", "attacker@evil.test", "attacker@evil.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := parseString(t, "From: "+tc.from+"\r\nTo: support@vendor.test\r\nSubject: x\r\n\r\nhello\r\n", nil)
			checkFrom(t, m, tc.author, tc.reply)
		})
	}
	// Two From fields: no author, no single address.
	m := parseString(t, "From: ceo@acme.test\r\nFrom: attacker@evil.test\r\nSubject: x\r\n\r\nhello\r\n", nil)
	checkFrom(t, m, "", "")
}

func checkFrom(t *testing.T, m *Message, author, reply string) {
	t.Helper()
	got := ""
	if a := m.Author(); a != nil {
		got = a.Addr
	}
	if got != author {
		t.Errorf("Author = %q, want %q", got, author)
	}
	gotReply := ""
	if m.From != nil {
		gotReply = m.From.Addr
	}
	if gotReply != reply {
		t.Errorf("From = %+v, want address %q", m.From, reply)
	}
	if ambiguous := author == ""; m.FromAmbiguous != ambiguous || slices.Contains(m.Problems, "ambiguous_from") != ambiguous {
		t.Errorf("FromAmbiguous = %v, problems %v; want ambiguous %v", m.FromAmbiguous, m.Problems, ambiguous)
	}
	if m.From != nil && strings.Contains(m.From.Addr, "acme.test") && author == "" {
		t.Errorf("the forged display name became the address: %+v", m.From)
	}
}
