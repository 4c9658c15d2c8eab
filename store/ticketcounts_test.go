package store

import (
	"encoding/json"
	"testing"
	"time"
)

// ticketClassOf's shortcut reads what a full decode reads, also when a
// subject or message quotes JSON that looks like a state or priority.
func TestTicketClassOf(t *testing.T) {
	for _, tk := range []Ticket{
		{ID: "CS-M00001", State: StateOpen, Priority: 1},
		{ID: "CS-M00002", State: StateClosed, Priority: 4, Subject: `{"state":"open","priority":1}`},
		{ID: "CS-M00003", State: StateAnswered, Priority: 12, Company: `"priority":3,`, Created: time.Now(),
			Messages: []TicketMessage{{From: `"state":"x"`, Direction: DirectionIn}}},
		{ID: "CS-M00004", State: StateOpen}, // priority 0
	} {
		raw, err := json.Marshal(&tk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ticketClassOf(raw)
		if want := (TicketClass{tk.State, tk.Priority}); err != nil || got != want {
			t.Errorf("%s: ticketClassOf = %+v, %v; want %+v", tk.ID, got, err, want)
		}
	}
	if _, err := ticketClassOf([]byte(`{"state":`)); err == nil {
		t.Error("a truncated ticket decoded")
	}
}
