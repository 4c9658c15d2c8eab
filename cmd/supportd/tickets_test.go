package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/entitlement"
	"supportd/store"
)

// ticketStore writes tickets into a new store and returns the environment that
// points the CLI at it.
func ticketStore(t *testing.T, tickets ...*store.Ticket) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supportd.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *store.Tx) error {
		for _, tk := range tickets {
			if err := tx.PutTicket(tk); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return []string{"SUPPORTD_STORE_PATH=" + path}
}

// The ticket JSON of docs/design.md §10: every contract key present, null for what a
// ticket does not have; --open and --overdue select exactly those tickets.
func TestTicketsJSONAndFilters(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	env := ticketStore(t,
		&store.Ticket{ID: "CS-M00001", State: store.StateOpen, Status: entitlement.Active, Priority: 1, CustomerID: "C100", From: "alice@acme.test",
			Subject: "Late", Created: now.Add(-3 * time.Hour), Deadline: past, ResponseDue: past, Breached: true, Breaches: 1,
			Messages: []store.TicketMessage{{MessageID: "m1@acme.test", Received: now.Add(-3 * time.Hour), Direction: store.DirectionIn, Kind: store.MsgCustomer, From: "alice@acme.test"},
				{MessageID: "r1@vendor.test", Received: now.Add(-3 * time.Hour), Direction: store.DirectionOut, Kind: store.MsgAuto, From: "support@vendor.test"}}},
		&store.Ticket{ID: "CS-M00002", State: store.StateOpen, Status: entitlement.Active, Priority: 1, From: "bob@acme.test", Subject: "On time",
			Created: now, Deadline: future, ResponseDue: future},
		&store.Ticket{ID: "CS-M00003", State: store.StateAnswered, Status: entitlement.Trial, Priority: 2, From: "pete@initech.test", Subject: "Answered",
			Created: now, FirstResponseAt: now, ReferencedTicket: "CS-000042"},
		&store.Ticket{ID: "CS-M00004", State: store.StateClosed, Status: entitlement.Unknown, Priority: 4, From: "sam@newcorp.test", Subject: "Closed", Created: now},
	)
	ids := func(args ...string) []string {
		out, stderr, err := cli(t, env, append([]string{"tickets", "list", "--json"}, args...)...)
		if err != nil {
			t.Fatalf("tickets list %v: %v %s", args, err, stderr)
		}
		var vs []map[string]any
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			t.Fatalf("tickets list --json is not JSON: %v\n%s", err, out)
		}
		var got []string
		for _, v := range vs {
			for _, k := range []string{"id", "state", "customer_id", "status", "priority", "subject", "requester", "created",
				"first_response_due", "first_response_at", "response_due", "breaches", "referenced_ticket"} {
				if _, ok := v[k]; !ok {
					t.Errorf("ticket %v lacks the key %q", v["id"], k)
				}
			}
			got = append(got, v["id"].(string))
		}
		return got
	}
	if got := ids(); !slices.Equal(got, []string{"CS-M00001", "CS-M00002", "CS-M00003", "CS-M00004"}) {
		t.Errorf("list = %v", got)
	}
	if got := ids("--open"); !slices.Equal(got, []string{"CS-M00001", "CS-M00002"}) { // not the answered CS-M00003
		t.Errorf("list --open = %v", got)
	}
	if got := ids("--overdue"); !slices.Equal(got, []string{"CS-M00001"}) {
		t.Errorf("list --overdue = %v, want exactly the overdue ticket", got)
	}

	out, _, err := cli(t, env, "tickets", "show", "CS-M00001", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ID               string  `json:"id"`
		CustomerID       *string `json:"customer_id"`
		ReferencedTicket *string `json:"referenced_ticket"`
		FirstResponseAt  *string `json:"first_response_at"`
		Breaches         int     `json:"breaches"`
		Messages         []struct {
			At, Direction, Kind string
			From                *string `json:"from"`
			MessageID           *string `json:"message_id"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.CustomerID == nil || *v.CustomerID != "C100" || v.ReferencedTicket != nil || v.FirstResponseAt != nil || v.Breaches != 1 {
		t.Errorf("show = %s", out)
	}
	if len(v.Messages) != 2 || v.Messages[0].Direction != "in" || v.Messages[0].Kind != "customer" || v.Messages[1].Kind != "auto" ||
		v.Messages[0].MessageID == nil || *v.Messages[0].MessageID != "<m1@acme.test>" {
		t.Errorf("show messages = %s", out)
	}
	if _, err := time.Parse(time.RFC3339, v.Messages[0].At); err != nil {
		t.Errorf("message time %q is not RFC 3339", v.Messages[0].At)
	}
	text, _, err := cli(t, env, "tickets", "show", "CS-M00001")
	if err != nil || !strings.Contains(text, "alice@acme.test") || !strings.Contains(text, "customer") {
		t.Errorf("show lists no sender or kind: %v\n%s", err, text)
	}
}

func TestTicketsCloseReopen(t *testing.T) {
	now := time.Now()
	env := ticketStore(t, &store.Ticket{ID: "CS-M00001", State: store.StateOpen, Status: entitlement.Active, Priority: 1, From: "alice@acme.test",
		Subject: "x", Created: now, Deadline: now.Add(time.Hour), ResponseDue: now.Add(time.Hour)})
	state := func() (string, bool) {
		out, _, err := cli(t, env, "tickets", "show", "CS-M00001", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			State       string  `json:"state"`
			ResponseDue *string `json:"response_due"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatal(err)
		}
		return v.State, v.ResponseDue != nil
	}
	if _, _, err := cli(t, env, "tickets", "close", "CS-M00001"); err != nil {
		t.Fatal(err)
	}
	if s, due := state(); s != "closed" || due {
		t.Errorf("after close: state %s, response due %v", s, due)
	}
	if _, _, err := cli(t, env, "tickets", "reopen", "CS-M00001"); err != nil {
		t.Fatal(err)
	}
	if s, due := state(); s != "open" || !due {
		t.Errorf("after reopen: state %s, response due %v (an active ticket reopened owes a response)", s, due)
	}
	if _, _, err := cli(t, env, "tickets", "close", "CS-M99999"); err == nil {
		t.Error("closing a ticket that does not exist succeeded")
	}
}

// A command that reads the store says plainly when store.path is not there.
func TestReadingAMissingStoreSaysSo(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo.db")
	for _, args := range [][]string{{"tickets", "list"}, {"customers", "list"}, {"outbox", "list"}} {
		_, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + missing}, args...)
		if err == nil || !strings.Contains(err.Error(), missing+" does not exist: check --store or store.path") {
			t.Errorf("%v on a missing store: %v", args, err)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a reading command created the store: %v", err)
	}
}
