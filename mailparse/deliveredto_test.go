package mailparse

import (
	"strings"
	"testing"
)

// Delivered-To: only the topmost field counts (the receiving server added it
// last; fields below can come from the sender). The staff loop finds a Bcc'd
// plus-address (support+CS-000123@vendor.test) there.
func TestDeliveredToTopmostOnly(t *testing.T) {
	cases := []struct{ name, msg, want string }{
		{"topmost wins over a sender-supplied one below", "Return-Path: <bob@acme.test>\r\nDelivered-To: support+CS-000123@vendor.test\r\nReceived: from mx\r\nDelivered-To: sales@vendor.test\r\nFrom: bob@acme.test\r\n\r\nbody\r\n", "support+cs-000123@vendor.test"},
		{"angle brackets", "Delivered-To: <Support+Tag@Vendor.test>\r\nFrom: bob@acme.test\r\n\r\nbody\r\n", "support+tag@vendor.test"},
		{"none", "From: bob@acme.test\r\nSubject: hi\r\n\r\nDelivered-To: x@y.test\r\n", ""},
	}
	for _, c := range cases {
		m, err := Default().Parse(strings.NewReader(c.msg))
		if err != nil || m.DeliveredTo != c.want {
			t.Errorf("%s: DeliveredTo = %q, %v; want %q", c.name, m.DeliveredTo, err, c.want)
		}
	}
}
