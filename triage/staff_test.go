package triage

import (
	"reflect"
	"strings"
	"testing"
)

func TestIsStaff(t *testing.T) {
	staff := []string{"lead@vendor.test", "@staff.vendor.test"}
	for addr, want := range map[string]bool{
		"lead@vendor.test":           true,
		"LEAD@Vendor.Test":           true,
		"eng@staff.vendor.test":      true,
		"eng@evil-staff.vendor.test": false,
		"eng@vendor.test":            false,
		"staff.vendor.test":          false,
		"":                           false,
	} {
		if got := IsStaff(addr, staff); got != want {
			t.Errorf("IsStaff(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestReplyAddress(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	own := []string{"support@vendor.test"}
	a := ReplyAddress(secret, "CS-M00042", own[0])
	if !strings.HasPrefix(a, "support+cs-m00042.") || !strings.HasSuffix(a, "@vendor.test") {
		t.Fatalf("ReplyAddress = %q", a)
	}
	if id, ok := TicketFromReplyAddress(secret, strings.ToUpper(a), own); !ok || id != "cs-m00042" {
		t.Errorf("round trip = %q %v", id, ok)
	}
	bad := []string{
		strings.Replace(a, "m00042", "m00043", 1),             // another ticket, same MAC
		a[:strings.LastIndexByte(a, '@')-1] + "x@vendor.test", // MAC changed
		strings.Replace(a, "@vendor.test", "@evil.test", 1),   // another domain
		strings.Replace(a, "support+", "sales+", 1),           // another mailbox
		"support@vendor.test",
	}
	for _, b := range bad {
		if id, ok := TicketFromReplyAddress(secret, b, own); ok {
			t.Errorf("forged %q accepted as %q", b, id)
		}
	}
	if _, ok := TicketFromReplyAddress([]byte("another secret, another store..."), a, own); ok {
		t.Error("an address signed with another secret was accepted")
	}
}

func TestCutStaffText(t *testing.T) {
	quote := "\n\nOn Wed, 25 Nov 2026 at 10:01, Support <support@vendor.test> wrote:\n> " + ReplyMarker + "\n> Ticket: CS-M00001\n> customer text\n"
	tests := []struct {
		name, in string
		want     StaffText
	}{
		{"plain answer", "Please restart.\n\nErin" + quote, StaffText{Text: "Please restart.\n\nErin", Cut: true}},
		{"note", "#note\nCheck the logs first." + quote, StaffText{Commands: []string{CmdNote}, Text: "Check the logs first.", Cut: true}},
		{"note on one line", "#note check the logs" + quote, StaffText{Commands: []string{CmdNote}, Text: "check the logs", Cut: true}},
		{"close and text", "\n#Close\nDone, closing.\n" + quote, StaffText{Commands: []string{CmdClose}, Text: "Done, closing.", Cut: true}},
		{"open only", "#open\n" + quote, StaffText{Commands: []string{CmdOpen}, Cut: true}},
		{"unknown", "#closee\ntext" + quote, StaffText{Unknown: []string{"#closee"}, Text: "text", Cut: true}},
		{"hash later is text", "Use #close in the UI.\n#note" + quote, StaffText{Text: "Use #close in the UI.\n#note", Cut: true}},
		{"outlook", "Fixed.\n\nFrom: Support <support@vendor.test>\nSent: Wednesday, 25 November 2026 10:01\nTo: Erin\n" + ReplyMarker + "\ncustomer text\n",
			StaffText{Text: "Fixed.", Cut: true}},
		{"original message", "Fixed.\n-----Original Message-----\n" + ReplyMarker + "\n", StaffText{Text: "Fixed.", Cut: true}},
		{"marker unquoted", "Fixed.\n" + ReplyMarker + "\nTicket: CS-M00001\n", StaffText{Text: "Fixed.", Cut: true}},
		{"wrote split", "Fixed.\nOn Wed, 25 Nov 2026 at 10:01, Support <support@vendor.test>\nwrote:\n> x\n", StaffText{Text: "Fixed.", Cut: true}},
		{"no quote", "Just text\n", StaffText{Text: "Just text"}},
		{"only the quote", quote, StaffText{Cut: true}},
		{"crlf", "Hi\r\n\r\n" + strings.ReplaceAll(quote, "\n", "\r\n"), StaffText{Text: "Hi", Cut: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CutStaffText(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CutStaffText = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzCutStaffText: whatever a staff member (or an attacker who got a staff
// address) writes, nothing below the reply marker is ever in Text, and
// commands are only known ones.
func FuzzCutStaffText(f *testing.F) {
	for _, s := range []string{"Please restart.", "#note\nx", "#close", "#foo bar\ntext", "On Mon wrote:\n", "> quoted", "From: a\nSent: b", "\r\n#open\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := s + "\nOn Wed, Support wrote:\n> " + ReplyMarker + "\n> BELOW-THE-MARKER\n" + ReplyMarker + "\nBELOW-THE-MARKER\n"
		got := CutStaffText(in)
		if strings.Contains(got.Text, "BELOW-THE-MARKER") || strings.Contains(got.Text, "reply above this line") {
			t.Fatalf("text below the marker relayed: %q", got.Text)
		}
		if !got.Cut {
			t.Fatalf("marker not found in %q", in)
		}
		for _, c := range got.Commands {
			if c != CmdNote && c != CmdClose && c != CmdOpen {
				t.Fatalf("unknown command %q reported as known", c)
			}
		}
		for _, u := range got.Unknown {
			if !strings.HasPrefix(u, "#") {
				t.Fatalf("unknown command %q without #", u)
			}
		}
		if got.Text != strings.TrimSpace(got.Text) {
			t.Fatalf("text not trimmed: %q", got.Text)
		}
	})
}
