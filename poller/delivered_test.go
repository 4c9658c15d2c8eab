package poller

import (
	"strings"
	"testing"
)

func TestDeliveredToTopmostOnly(t *testing.T) {
	cases := []struct{ name, msg, want string }{
		{"topmost wins over a sender-supplied one below", "Return-Path: <bob@acme.test>\r\nDelivered-To: support+CS-000123@vendor.test\r\nReceived: from mx\r\nDelivered-To: sales@vendor.test\r\nFrom: bob@acme.test\r\n\r\nbody\r\n", "support+CS-000123@vendor.test"},
		{"angle brackets", "Delivered-To: <Support+Tag@Vendor.test>\r\n\r\n", "Support+Tag@vendor.test"},
		{"none", "From: bob@acme.test\r\nSubject: hi\r\n\r\nDelivered-To: x@y.test\r\n", ""},
		{"not an address", "Delivered-To: (nothing)\r\n\r\n", ""},
	}
	for _, c := range cases {
		got, err := DeliveredTo(strings.NewReader(c.msg))
		if err != nil || got != c.want {
			t.Errorf("%s: DeliveredTo = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}
