package mailtext

import "testing"

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Site down\r\nBcc: x@evil.test":   "Site down Bcc: x@evil.test",
		"a\u2028b\u0085c\x00d\x7fe":       "a b c d e",
		"pay\u202eTXT.exe \u200bzero":     "payTXT.exe zero",
		"  many   \t spaces  ":            "many spaces",
		"bad \xff utf8":                   "bad \uFFFD utf8",
		"0123456789abcdefghijklmnopqrstu": "0123456789abcdefghijklmnopqrstu",
	} {
		if got := Sanitize(in, 40); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Sanitize("abcdef ghij", 8); got != "abcdef…" {
		t.Errorf("cut: %q", got)
	}
}

func TestMsgID(t *testing.T) {
	for in, want := range map[string]string{
		"<a.b@c.test>": "a.b@c.test", " a@b ": "a@b", "<x@y>": "x@y",
		"": "", "<>": "", "a b@c": "", "a@b>\r\nBcc: x": "", "a,b@c": "", "a;b@c": "", "é@c": "", `"q"@c`: "",
	} {
		got, ok := MsgID(in)
		if got != want || ok != (want != "") {
			t.Errorf("MsgID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	long := make([]byte, MaxMsgIDLen+1)
	for i := range long {
		long[i] = 'a'
	}
	if _, ok := MsgID(string(long)); ok {
		t.Error("an over-long id must be refused")
	}
}
