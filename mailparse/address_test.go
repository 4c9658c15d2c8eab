package mailparse

import (
	"testing"

	gomail "github.com/emersion/go-message/mail"
)

// checkSimpleAddresses fails when appendSimpleAddresses accepts v but
// net/mail (through go-message) parses it differently or not at all.
func checkSimpleAddresses(t *testing.T, v string) bool {
	t.Helper()
	got, ok := appendSimpleAddresses(nil, v)
	if !ok {
		return false
	}
	want, err := gomail.ParseAddressList(v)
	if err != nil {
		t.Fatalf("%q: shortcut gave %+v, net/mail fails: %v", v, got, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%q: shortcut gave %+v, net/mail %d addresses", v, got, len(want))
	}
	for i := range got {
		if got[i].Name != want[i].Name || got[i].Addr != want[i].Address {
			t.Fatalf("%q: address %d: shortcut %+v, net/mail %q <%s>", v, i, got[i], want[i].Name, want[i].Address)
		}
	}
	return true
}

func TestSimpleAddresses(t *testing.T) {
	for _, tc := range []struct {
		v      string
		simple bool
	}{
		{"alice@acme.test", true},
		{"  Alice@Acme.Test  ", true},
		{"<alice@acme.test>", true},
		{"Alice Example <alice@acme.test>", true},
		{"Alice  Example\t<alice@acme.test>", true},
		{"\"Example, Alice\" <alice@acme.test>", true},
		{"\"Alice\" \"Example\" <a@b>", true},
		{"\"\" <a@b>", true},
		{"J. R. Smith <j.r.smith@x.test>", true},
		{"a@b, c@d,,e@f,", true},
		{", a@b", true},
		{"A <a@b>, \"B, C\" <b@c>, d@e", true},
		{"a.b+tag@sub.example.test", true},
		{"o'neil@x.test", true},
		// Left to net/mail (or to the fallback when net/mail fails too).
		{"", false},
		{" , ", false},
		{"a@b c@d", false},
		{"a@b <c@d>", false},
		{"a@b (Alice)", false},
		{"Alice <a@b> (comment)", false},
		{"=?utf-8?q?Al=C3=AFce?= <a@b>", false},
		{"Alïce <a@b>", false},
		{"\"Al\\\"ice\" <a@b>", false},
		{"\"a b\"@c.d", false},
		{"a@[127.0.0.1]", false},
		{"undisclosed-recipients:;", false},
		{"Team: a@b, c@d;", false},
		{".a@b", false},
		{"a.@b", false},
		{"a..b@c", false},
		{"a@b..c", false},
		{"a@", false},
		{"Alice <a@b", false},
		{"Alice <a@b>x", false},
		{"Alice < a@b >", false},
		{"Alice", false},
		{"\"Alice <a@b>", false},
		{"Alice\r\n <a@b>", false},
	} {
		if got := checkSimpleAddresses(t, tc.v); got != tc.simple {
			t.Errorf("%q: shortcut taken %v, want %v", tc.v, got, tc.simple)
		}
	}
}

// FuzzSimpleAddresses checks that the shortcut never disagrees with
// net/mail on what it accepts.
func FuzzSimpleAddresses(f *testing.F) {
	for _, s := range []string{"alice@acme.test", "Alice Example <alice@acme.test>", "\"Example, Alice\" <a@b>, c@d", "J. Smith <j@x.y>", "a@b, , c@d", "\"a\"@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkSimpleAddresses(t, v)
	})
}
