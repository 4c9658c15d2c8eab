package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestExplainFromOneReading (issue 13 item 1): a From whose display name is
// a customer's address (acme.test is C100, active) and whose mailbox is the
// attacker's is never read as the customer: no entitlement (unknown), the
// problem ambiguous_from flags it to staff, and a reply goes only to the
// one address MTAs read (the angle-addr), never to acme.test.
func TestExplainFromOneReading(t *testing.T) {
	env := storeWithCustomers(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, from string
		replyTo    string // the only reply recipient; "" for no reply
	}{
		{"display name", "ceo@acme.test <attacker@evil.test>", "attacker@evil.test"},
		{"no space", "ceo@acme.test<attacker@evil.test>", "attacker@evil.test"},
		{"folded", "ceo@acme.test\r\n <attacker@evil.test>", "attacker@evil.test"},
		{"list", "ceo@acme.test, attacker@evil.test", ""},
		{"group", "ceo@acme.test: <attacker@evil.test>;", "attacker@evil.test"},
		{"group of two", "Acme: ceo@acme.test, attacker@evil.test;", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "From: " + tc.from + "\r\nTo: Support <support@vendor.test>\r\n" +
				"Subject: Server down, urgent\r\nDate: Wed, 25 Nov 2026 09:00:00 +1030\r\n" +
				"Message-ID: <from-" + filepath.Base(t.Name()) + "@evil.test>\r\n\r\n" +
				"Our Passwordstate site is down since this morning, build 9653 on Windows Server 2019.\r\n"
			path := filepath.Join(dir, filepath.Base(t.Name())+".eml")
			if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", path)
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, stderr)
			}
			doc := checkExplainJSON(t, tc.name, out)
			ent, _ := doc["entitlement"].(map[string]any)
			if ent["status"] != "unknown" || ent["customer_id"] != nil {
				t.Errorf("entitlement %v, want unknown and no customer", ent)
			}
			if from, _ := doc["from"].(string); from == "ceo@acme.test" {
				t.Errorf("from = %q", from)
			}
			if probs, _ := doc["problems"].([]any); !slices.Contains(probs, any("ambiguous_from")) {
				t.Errorf("problems %v lack ambiguous_from", probs)
			}
			var to []any
			if r, ok := doc["reply"].(map[string]any); ok {
				to, _ = r["to"].([]any)
			}
			switch {
			case tc.replyTo == "" && len(to) > 0:
				t.Errorf("reply to %v, want no reply", to)
			case tc.replyTo != "" && (len(to) != 1 || to[0] != tc.replyTo):
				t.Errorf("reply to %v, want [%s]", to, tc.replyTo)
			}
		})
	}
}
