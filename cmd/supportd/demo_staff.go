package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"supportd/internal/memserver"
	"supportd/store"
)

// demoStaffActs are the staff part of the demo: engineers answer from their
// mail client by replying to a staff copy.
var demoStaffActs = []struct {
	ticket, what, text string
}{
	{"CS-M00001", "reply above the line", "Hello Hank,\n\nthe Windows update reset the IIS application pool identity. Set it back to the\nPasswordstate service account and restart the site.\n\nErin, Technical Support"},
	{"CS-M00005", "#note", "#note\nNot in our records; probably the reseller's customer. Ask sales before answering."},
	{"CS-M00002", "#close with an answer", "#close\nHi Peter,\n\nAD sync works during the trial exactly as after purchase.\n\nErin"},
}

// demoStaffEngineer is the staff member of the demo (support.staff has its domain).
const demoStaffEngineer = "erin@staff.vendor.test"

// demoStaffReplies appends to INBOX what a mail client sends when an engineer
// presses Reply on the staff copy of each act's ticket; it returns the UIDs.
func demoStaffReplies(imapSrv *memserver.IMAP, smtpSrv *memserver.SMTP, db *store.DB) ([]uint32, error) {
	var uids []uint32
	for i, act := range demoStaffActs {
		var copy *memserver.Received
		for _, r := range smtpSrv.Messages() {
			if r.Header("X-Support-Ticket") == act.ticket && r.Header("Reply-To") != "" {
				copy = &r
				break
			}
		}
		if copy == nil {
			return nil, fmt.Errorf("demo: no staff copy of %s", act.ticket)
		}
		var created time.Time
		_ = db.View(func(tx *store.Tx) error {
			if t, _ := tx.Ticket(act.ticket); t != nil {
				created = t.Created
			}
			return nil
		})
		raw := fmt.Sprintf("From: Erin Engineer <%s>\r\nTo: %s\r\nSubject: Re: %s\r\nMessage-ID: <demo-staff-%d@staff.vendor.test>\r\nIn-Reply-To: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n\r\nOn %s, Support <support@vendor.test> wrote:\r\n> -- reply above this line --\r\n> Ticket:     %s\r\n",
			demoStaffEngineer, copy.Header("Reply-To"), copy.Header("Subject"), i, copy.Header("Message-Id"),
			created.Add(40*time.Minute).Format(time.RFC1123Z), strings.ReplaceAll(act.text, "\n", "\r\n"), created.Format("Mon 2 Jan 2006 15:04"), act.ticket)
		uid, err := imapSrv.Append("INBOX", []byte(raw), created.Add(40*time.Minute))
		if err != nil {
			return nil, err
		}
		uids = append(uids, uid)
	}
	return uids, nil
}

// demoStaffReport prints what became of each staff reply.
func (a *app) demoStaffReport(db *store.DB, smtpSrv *memserver.SMTP) {
	fmt.Fprintf(a.stdout, "\nStaff answer from their mail client (support.staff: @staff.vendor.test), replying to the staff copy:\n\n")
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TICKET\tSTAFF REPLY\tWHAT WENT OUT\tTICKET NOW")
	for _, act := range demoStaffActs {
		out := "nothing to the customer"
		for _, r := range smtpSrv.Messages() {
			if r.Header("X-Support-Ticket") == act.ticket && strings.Contains(r.Header("Subject"), "Note from") {
				out = "internal note to " + strings.Join(r.To, ", ") + "; nothing to the customer"
			}
			if r.Header("Auto-Submitted") == "" && r.Header("X-Support-Priority") == "" && strings.HasPrefix(r.Header("Subject"), "["+act.ticket+"]") {
				out = "relayed to " + strings.Join(r.To, ", ") + ": " + clip(r.Header("Subject"), 45)
			}
		}
		state := "-"
		_ = db.View(func(tx *store.Tx) error {
			if t, _ := tx.Ticket(act.ticket); t != nil {
				state = t.State
				if !t.FirstResponseAt.IsZero() {
					state += fmt.Sprintf(", first response after %s", t.FirstResponseAt.Sub(t.Created).Round(time.Minute))
				}
			}
			return nil
		})
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", act.ticket, act.what, out, state)
	}
	tw.Flush()
}
