package store

import (
	"encoding/json"
	"fmt"
)

// TicketClass is a ticket's state and priority, the labels of the
// supportd_tickets gauge.
type TicketClass struct {
	State    string
	Priority int
}

// CountTickets counts the tickets by state and priority. It reads every
// ticket (decoding only those two fields), so the daemon calls it on a slow
// period, never per SLA tick.
func (t *Tx) CountTickets() (map[TicketClass]int, error) {
	counts := map[TicketClass]int{}
	err := t.bucket(bTickets).ForEach(func(k, v []byte) error {
		var c struct {
			State    string `json:"state"`
			Priority int    `json:"priority"`
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("count tickets: ticket %s: %w", truncate(string(k)), err)
		}
		counts[TicketClass{c.State, c.Priority}]++
		return nil
	})
	return counts, err
}
