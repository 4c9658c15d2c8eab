package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestExplainCurrentBuild (issue 10 items 1-2): realistic emails (plain,
// HTML, a quoted reply, an unfilled ticket form) through explain: the build
// is the one the customer is on now, fields.builds_mentioned lists every
// build of their own text in order, and quoted text, examples and prompts
// are not data.
func TestExplainCurrentBuild(t *testing.T) {
	env := storeWithCustomers(t)
	dir := t.TempDir()
	head := func(id, subject, ctype string) string {
		return "From: Bob Smith <bob.smith@acme.test>\r\nTo: Support <support@vendor.test>\r\nSubject: " + subject +
			"\r\nDate: Wed, 25 Nov 2026 09:00:00 +1030\r\nMessage-ID: <" + id + "@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: " + ctype + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name, raw string
		build     any   // float64 in the JSON, or nil
		mentioned []any // as decoded
		action    string
		missing   []string // tokens that must be in missing
		browser   bool     // a browser was found
	}{
		{
			name: "plain, upgrade failed",
			raw: head("b1", "Site down after upgrade", "text/plain; charset=utf-8") +
				"Hi,\r\n\r\nwe upgraded from build 7941 to build 9785 and now the site shows a 500 error on every page.\r\n" +
				"Server OS: Windows Server 2019, browser Chrome 119. Screenshot attached soon.\r\n\r\nBob\r\n",
			build: float64(9785), mentioned: []any{float64(7941), float64(9785)}, action: "acknowledge", browser: true,
		},
		{
			name: "HTML, table with the build and an example browser",
			raw: head("b2", "Permissions not saved", "text/html; charset=utf-8") +
				"<html><body><p>Hello,</p><p>since we upgraded to 9653 the permissions of a list are not saved when we click Save, the page just spins.</p>" +
				"<table><tr><td>Build Number</td><td>9653</td></tr><tr><td>Server OS</td><td>Windows Server 2019</td></tr>" +
				"<tr><td>Browser</td><td>e.g. Edge Version 85.0.564.51</td></tr></table></body></html>\r\n",
			build: float64(9653), mentioned: []any{float64(9653)}, action: "acknowledge", missing: []string{"browser"},
		},
		{
			name: "quoted reply: only the customer's own words count",
			raw: head("b3", "Re: [CS-000777] Slow password lists", "text/plain; charset=utf-8") +
				"We are now on build 9653, the lists are still slow.\r\n\r\n" +
				"On Tue, 24 Nov 2026 at 10:00, Support <support@vendor.test> wrote:\r\n" +
				"> Build Number: 7941\r\n> Which build are you on? Builds before 9000 are no longer supported.\r\n",
			build: float64(9653), mentioned: []any{float64(9653)}, browser: false,
		},
		{
			name: "unfilled ticket form",
			raw: head("b4", "Support Ticket CS-004300 - Cannot log in", "text/plain; charset=utf-8") +
				"A new support ticket was submitted from the support web page.\r\n\r\n" +
				"Support Ticket ID: CS-004300\r\nCustomer Name: Bob Smith\r\nCompany: Acme Pty Ltd\r\n" +
				"Build Number: 9653\r\nServer OS: Windows Server 2019\r\nBrowser: e.g. Edge Version 85.0.564.51\r\n\r\n" +
				"Description of what you were doing…\r\n\r\nInstructions on how to reproduce the error\r\n",
			build: float64(9653), mentioned: []any{float64(9653)}, action: "acknowledge",
			missing: []string{"browser", "description", "steps_to_reproduce"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, filepath.Base(t.Name())+".eml")
			if err := os.WriteFile(path, []byte(tc.raw), 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", path)
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, stderr)
			}
			doc := checkExplainJSON(t, tc.name, out)
			fields, _ := doc["fields"].(map[string]any)
			if fields["build"] != tc.build {
				t.Errorf("fields.build = %v, want %v", fields["build"], tc.build)
			}
			if got, _ := fields["builds_mentioned"].([]any); !slices.Equal(got, tc.mentioned) {
				t.Errorf("fields.builds_mentioned = %v, want %v", fields["builds_mentioned"], tc.mentioned)
			}
			if tc.action != "" && doc["action"] != tc.action {
				t.Errorf("action = %v, want %s", doc["action"], tc.action)
			}
			missing, _ := doc["missing"].([]any)
			for _, m := range tc.missing {
				if !slices.Contains(missing, any(m)) {
					t.Errorf("missing = %v, want it to contain %s", missing, m)
				}
			}
			if (fields["browser"] != nil) != tc.browser {
				t.Errorf("fields.browser = %v, want found %v", fields["browser"], tc.browser)
			}
		})
	}
}
