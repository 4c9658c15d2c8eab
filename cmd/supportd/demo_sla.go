package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/memserver"
	"supportd/sla"
	"supportd/store"
)

// The demo's SLA step runs the SLA in fast motion: a response is due
// demoSLADue after receipt, the warning demoSLAWarn before that.
const (
	demoSLADue  = 2 * time.Second
	demoSLAWarn = time.Second
)

// demoSLA is the SLA step of the demo: a second daemon, built like `run`
// (config.Build) on the demo's store and mailbox but with seconds-long sla.*
// durations, gets a message received now from an active customer; nobody
// answers, so the warning and then the breach reach the staff queue and the
// message gets the Overdue keyword. Then `supportd report sla`'s table over
// the store.
func (a *app) demoSLA(ctx context.Context, db *store.DB, imapSrv *memserver.IMAP, smtpSrv *memserver.SMTP, uv uint32, log *slog.Logger, spool string) error {
	c := a.cfg // the demo's configuration (its servers, store and staff queue), with the fast SLA
	c.SLA.Clock = sla.Elapsed
	c.SLA.InHours, c.SLA.OutOfHours, c.SLA.OutOfHoursTarget, c.SLA.WarnBefore = demoSLADue, demoSLADue, demoSLADue/2, demoSLAWarn
	fmt.Fprintf(a.stdout, "\nSLA in fast motion: a second daemon on the same store and mailbox with sla.in_hours and sla.out_of_hours %v,\nsla.warn_before %v (the defaults are 2h, 24h and 30m); a message arrives now and nobody answers it:\n\n",
		demoSLADue, demoSLAWarn)
	k, err := c.Build(ctx, config.Options{Logger: log, Store: db, SpoolDir: spool})
	if err != nil {
		return err
	}
	defer k.Close()
	at := time.Now()
	raw := fmt.Sprintf("From: Dave Citizen <dave@acme.test>\r\nTo: support@vendor.test\r\nSubject: Nightly backup job fails\r\nDate: %s\r\nMessage-ID: <demo-sla-%d@acme.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe nightly backup job fails since the upgrade.\r\nBuild Number: 9653\r\n",
		at.Format(time.RFC1123Z), at.UnixNano())
	uid, err := imapSrv.Append("INBOX", []byte(raw), at)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- k.Daemon.Run(runCtx) }()
	var ticket string
	var due time.Time
	var warning, breach *memserver.Received
	var flags []string
	deadline := at.Add(demoSLADue + 20*time.Second)
	for {
		_ = db.View(func(tx *store.Tx) error {
			e, _ := tx.SeenUID("INBOX", uv, uid)
			if e == nil {
				return nil
			}
			ticket = e.Ticket
			if t, _ := tx.Ticket(ticket); t != nil {
				due = t.ResponseDue
			}
			return nil
		})
		for _, r := range smtpSrv.Messages() {
			if ticket == "" || r.Header("X-Support-Ticket") != ticket {
				continue
			}
			switch r.Header("X-Support-SLA") {
			case "warning":
				warning = &r
			case "breach":
				breach = &r
			}
		}
		if warning != nil && breach != nil {
			if flags, err = imapSrv.Flags("INBOX", uid); err == nil && slices.ContainsFunc(flags, isOverdue) {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			return fmt.Errorf("demo: SLA step: ticket %q, warning sent %v, breach sent %v, IMAP flags %v (%v) after %v",
				ticket, warning != nil, breach != nil, flags, err, time.Since(at).Round(time.Second))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	loc := a.location()
	clock := func(t time.Time) string { return t.In(loc).Format("15:04:05.0") }
	fmt.Fprintf(a.stdout, "  %s  dave@acme.test (Acme, active) writes %q: ticket %s, response due %s\n", clock(at), "Nightly backup job fails", ticket, clock(due))
	fmt.Fprintf(a.stdout, "  %s  to %s: %s\n", clock(warning.At), strings.Join(warning.To, ", "), warning.Header("Subject"))
	fmt.Fprintf(a.stdout, "  %s  to %s: %s\n", clock(breach.At), strings.Join(breach.To, ", "), breach.Header("Subject"))
	fmt.Fprintf(a.stdout, "  IMAP flags of the message now (the in-process server keeps keywords lowercased): %s\n\n$ supportd report sla\n", strings.Join(flags, " "))
	eng, err := a.engine() // the configured calendar, as `report sla` reads it
	if err != nil {
		return err
	}
	now := time.Now()
	var rep daemon.SLAReport
	if err := db.View(func(tx *store.Tx) error {
		rep, err = daemon.ReportSLA(tx, eng.Calendar, time.Time{}, now.In(loc), now)
		return err
	}); err != nil {
		return err
	}
	return a.printSLAReport(rep, loc)
}

// isOverdue: keywords are case-insensitive (RFC 3501); the in-process
// server lowercases them.
func isOverdue(flag string) bool { return strings.EqualFold(flag, daemon.OverdueKeyword) }
