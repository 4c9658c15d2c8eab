package daemon_test

import (
	"path/filepath"
	"strings"
	"testing"

	"supportd/daemon"
	"supportd/internal/harness"
	"supportd/mailparse"
	"supportd/store"
)

// What replies say (issue 10 items 3, 4, 6-8): rendered by the engine of a
// configured world, from messages assessed against the harness customers.
func TestRepliesFollowThePolicy(t *testing.T) {
	c := harness.Config()
	c.Support.Phone.Number = "+61 8 8000 0000"
	c.Support.Company, c.Support.Product, c.Support.Signature = "Click Studios", "Passwordstate", "The Support Desk"
	eng, err := c.Engine()
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(t.TempDir(), "s.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ImportCustomers(strings.NewReader(testCustomers), nil); err != nil {
		t.Fatal(err)
	}
	assess := func(from, date, body string) (a *daemon.Assessment, reply, brief string) {
		t.Helper()
		raw := strings.Replace(msg(from, "Login fails", "r-"+date+"@x.test", body), "Date: Wed, 25 Nov 2026 10:00:00 +1030", "Date: "+date, 1)
		m, err := mailparse.Default().Parse(strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.View(func(tx *store.Tx) error {
			if a, err = eng.Assess(tx, m, received, "k", tx.PeekNextTicketID, nil); err != nil {
				return err
			}
			if reply, err = eng.RenderReply(a); err != nil {
				return err
			}
			brief, err = eng.RenderSalesBrief(a)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return a, reply, brief
	}
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	has := func(name, body string, want []string, not ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(flat(body), w) {
				t.Errorf("%s lacks %q:\n%s", name, w, body)
			}
		}
		for _, n := range not {
			if strings.Contains(flat(body), n) {
				t.Errorf("%s has %q:\n%s", name, n, body)
			}
		}
		for _, l := range strings.Split(body, "\n") {
			if len([]rune(l)) > 78 {
				t.Errorf("%s: line over 78 characters: %q", name, l)
			}
		}
	}

	// An active customer writing from UTC-8: phone support, the deadline in
	// their own offset too, the daylight-saving note, our names.
	_, reply, brief := assess("Alice <alice@acme.test>", "Tue, 24 Nov 2026 15:30:00 -0800", "Build Number: 9653\n")
	has("active reply from UTC-08:00", reply, []string{
		"Priority phone support is also available on +61 8 8000 0000, Monday to Friday, 08:30–17:00 Adelaide time",
		"Wednesday 25 November 2026, 12:00 ACDT (+10:30)", "Tuesday 24 November 2026, 17:30 (UTC-08:00) in your time zone",
		"Adelaide time is UTC+09:30, and UTC+10:30 during daylight saving, as now",
		"Thank you for contacting Click Studios Technical Support", "Upgrade Protection for Passwordstate is active",
		"Kind regards, The Support Desk Click Studios"})
	if brief != "" {
		t.Errorf("a sales brief for an active customer:\n%s", brief)
	}
	// Writing from Adelaide's own offset: the deadline is not repeated.
	_, reply, _ = assess("Alice <alice@acme.test>", "Wed, 25 Nov 2026 10:00:00 +1030", "Build Number: 9653\n")
	has("active reply from +10:30", reply, []string{"Wednesday 25 November 2026, 12:00 ACDT (+10:30)"}, "in your time zone")
	// Not active: no phone line.
	_, reply, _ = assess("Pete <peter@initech.test>", "Tue, 24 Nov 2026 15:30:00 -0800", "Build Number: 9653\n")
	has("trial reply", reply, []string{"reasonable-efforts"}, "phone", "in your time zone")

	// Item 4: the unsupported-version reply answers the ticket: no SLA.
	a, reply, _ := assess("Wile <wile@acme.test>", "Wed, 25 Nov 2026 10:00:00 +1030", "Build Number: 7941\n")
	if a.Decision.Action != "unsupported_version" || !a.SLA.Deadline.IsZero() || a.SLA.Target != 0 {
		t.Errorf("unsupported build of an active customer: action %s deadline %v target %v, want no SLA", a.Decision.Action, a.SLA.Deadline, a.SLA.Target)
	}
	has("unsupported reply", reply, []string{"build 7941", "of Passwordstate"}, "within 2 hours")

	// Items 3 and 6: lapsed and never purchased, each with its brief.
	a, reply, brief = assess("Gavin <gavin@hooli.test>", "Wed, 25 Nov 2026 10:00:00 +1030", "Our upgrade failed half way.\nBuild Number: 9540\n")
	if a.Decision.Reply == nil || a.Decision.Reply.Template != "lapsed" {
		t.Fatalf("Hooli (ASUP expired 2026-08-31): reply %+v", a.Decision.Reply)
	}
	has("lapsed notice", reply, []string{"expired on 2026-08-31", "quote to renew"}, "licence does not")
	has("lapsed brief", brief, []string{"Customer: C500 (Hooli Ltd)", "Licence: enterprise", "ASUP expiry: 2026-08-31",
		"Days since lapsed: 85", "Extended support: no", "Ticket: " + a.Decision.TicketID, "Subject: Login fails", "> Our upgrade failed half way."})
	a, reply, brief = assess("Richard <richard@piedpiper.test>", "Wed, 25 Nov 2026 10:00:00 +1030", "Build Number: 9653\n")
	if a.Decision.Reply == nil || a.Decision.Reply.Template != "never_purchased" || a.Input.Entitlement.Status != "lapsed" {
		t.Fatalf("Pied Piper (never held ASUP): status %s reply %+v", a.Input.Entitlement.Status, a.Decision.Reply)
	}
	has("never-purchased notice", reply, []string{"your Passwordstate licence does not include Annual Support", "quote for Annual Support"}, "expired", "no longer active")
	has("never-purchased brief", brief, []string{"Customer: C600 (Pied Piper)", "ASUP expiry: never", "Known contacts: richard@piedpiper.test"}, "Days since lapsed")
}
