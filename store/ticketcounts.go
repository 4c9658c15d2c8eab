package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// TicketClass is a ticket's state and priority, the labels of the
// supportd_tickets gauge.
type TicketClass struct {
	State    string
	Priority int
}

// CountTickets counts the tickets by state and priority. It reads every
// ticket, though only up to its state and priority (written before the
// messages), so the daemon calls it on a slow period, never per SLA tick.
func (t *Tx) CountTickets() (map[TicketClass]int, error) {
	counts := map[TicketClass]int{}
	err := t.bucket(bTickets).ForEach(func(k, v []byte) error {
		c, err := ticketClassOf(v)
		if err != nil {
			return fmt.Errorf("count tickets: ticket %s: %w", truncate(string(k)), err)
		}
		counts[c]++
		return nil
	})
	return counts, err
}

// ticketClassOf reads the state and priority of an encoded ticket without
// decoding it: the first "state" and "priority" keys are the ticket's own
// (encoding/json writes them before the messages, and a quote inside a
// string value is always escaped, so `"state":"` cannot occur there). A
// ticket where they are not found simply is decoded.
func ticketClassOf(raw []byte) (TicketClass, error) {
	var c TicketClass
	if i := bytes.Index(raw, []byte(`"state":"`)); i >= 0 {
		rest := raw[i+len(`"state":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			c.State = string(rest[:j])
			if k := bytes.Index(raw, []byte(`"priority":`)); k >= 0 {
				num := raw[k+len(`"priority":`):]
				n := 0
				for n < len(num) && n < 9 && num[n] >= '0' && num[n] <= '9' {
					n++
				}
				if n > 0 && n < len(num) && (num[n] == ',' || num[n] == '}') {
					c.Priority, _ = strconv.Atoi(string(num[:n]))
					return c, nil
				}
			} else {
				return c, nil // no priority key: 0
			}
		}
	}
	var full struct {
		State    string `json:"state"`
		Priority int    `json:"priority"`
	}
	if err := json.Unmarshal(raw, &full); err != nil {
		return c, err
	}
	return TicketClass{full.State, full.Priority}, nil
}
