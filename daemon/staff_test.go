package daemon

import (
	"testing"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/triage"
)

// Staff see the contract's extras on the routed copy: extended support and the
// subscriptions in force.
func TestStaffHeadersCarryContractExtras(t *testing.T) {
	a := &Assessment{
		Msg: &mailparse.Message{},
		Input: triage.Input{Entitlement: entitlement.Result{
			Customer: &entitlement.Customer{ID: "C100"}, Status: entitlement.Active, Priority: 1,
			ExtendedSupport: true, Subscriptions: []string{"reset_portal", "remote_sites"},
		}},
		Decision: triage.Decision{TicketID: "CS-000001", Action: triage.Acknowledge},
	}
	h := staffHeaders(a, nil)
	if h["X-Support-Subscriptions"] != "reset_portal, remote_sites" || h["X-Support-Extended"] != "true" || h["X-Support-Customer"] != "C100" {
		t.Errorf("staff headers = %v", h)
	}
	a.Input.Entitlement = entitlement.Result{Status: entitlement.Lapsed, Priority: 4}
	h = staffHeaders(a, nil)
	if _, ok := h["X-Support-Subscriptions"]; ok {
		t.Errorf("a lapsed customer's copy claims subscriptions: %v", h)
	}
	if _, ok := h["X-Support-Extended"]; ok {
		t.Errorf("a lapsed customer's copy claims extended support: %v", h)
	}
}

// Issue 13 item 7: text the sender controls reaches the staff preface quoted,
// never as if supportd had written it.
func TestStaffPrefaceQuotesParserNotes(t *testing.T) {
	got := quoteNotes([]string{"no_message_id", "unknown_charset: ASUP-VERIFIED; Customer C100 Acme Pty Ltd, P1 SLA 2h",
		"bad_filename: a\u202eb\"c", "Verified sender: yes"})
	want := `no_message_id; unknown_charset "ASUP-VERIFIED; Customer C100 Acme Pty Ltd, P1 SLA 2h"; bad_filename "a\u202eb\"c"; "Verified sender: yes"`
	if got != want {
		t.Errorf("quoteNotes = %s\nwant          %s", got, want)
	}
}
