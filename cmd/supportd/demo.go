package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"supportd/daemon"
	"supportd/dashboard"
	"supportd/internal/config"
	"supportd/internal/memserver"
	"supportd/poller"
	"supportd/store"
)

//go:embed demo/*.eml demo/customers.csv
var demoFiles embed.FS

// demoReceived gives each sample message its INTERNALDATE (Adelaide time): the
// week of 23 November 2026, in and out of support hours.
var demoReceived = map[string]string{
	"01-ticket-page.eml":     "2026-11-25T10:02:30+10:30",
	"02-weekend-globex.eml":  "2026-11-28T21:15:20+10:30",
	"03-trial.eml":           "2026-11-25T11:30:10+10:30",
	"04-free5.eml":           "2026-11-25T13:45:05+10:30",
	"05-lapsed.eml":          "2026-11-25T14:05:40+10:30",
	"06-unknown.eml":         "2026-11-25T15:20:15+10:30",
	"07-old-version.eml":     "2026-11-25T16:10:45+10:30",
	"08-out-of-office.eml":   "2026-11-25T16:30:02+10:30",
	"09-bounce.eml":          "2026-11-25T16:45:09+10:30",
	"10-follow-up.eml":       "2026-11-25T17:20:30+10:30",
	"11-gmail-contact.eml":   "2026-11-26T07:05:12+10:30",
	"12-mailing-list.eml":    "2026-11-25T09:00:30+10:30",
	"13-never-purchased.eml": "2026-11-27T03:40:05+10:30",
}

// demoWeekStart is the earliest INTERNALDATE of the sample mail.
func demoWeekStart() time.Time {
	var first time.Time
	for _, v := range demoReceived {
		if at, err := time.Parse(time.RFC3339, v); err == nil && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	return first
}

func (a *app) demoCmd() *cobra.Command {
	var verbose, serve bool
	var keep string
	c := &cobra.Command{
		Use:   "demo [-v] [--serve] [--keep DIR | --store FILE]",
		Short: "Run the whole flow on embedded IMAP and SMTP servers with sample customers and mail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kept := ""
			switch {
			case keep != "":
				if err := os.MkdirAll(keep, 0o700); err != nil {
					return fmt.Errorf("--keep: %w", err)
				}
				kept = filepath.Join(keep, "demo.db")
			case cmd.Flags().Changed("store"):
				kept = a.cfg.Store.Path
			}
			if kept != "" {
				if _, err := os.Stat(kept); err == nil {
					return fmt.Errorf("demo: %s exists; the demo writes a new store (remove it or choose another)", kept)
				}
			}
			return a.demo(cmd.Context(), verbose, kept, serve)
		},
	}
	c.Flags().BoolVar(&serve, "serve", false, "keep serving the staff dashboard of the demo's tickets until Ctrl-C")
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the daemon's log and every reply in full")
	c.Flags().StringVar(&keep, "keep", "", "keep the demo's store as DIR/demo.db for inspection (--store FILE names the file itself)")
	return c
}

// demo points the configuration at in-process servers and a throw-away store
// (kept at keep when set); the rest (hours, SLA, versions, templates) is the
// loaded configuration.
func (a *app) demo(ctx context.Context, verbose bool, keep string, serve bool) error {
	dir, err := os.MkdirTemp("", "supportd-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	imapSrv, err := memserver.StartIMAP("support@vendor.test", "demo-password")
	if err != nil {
		return fmt.Errorf("demo IMAP server: %w", err)
	}
	defer imapSrv.Close()
	smtpSrv, err := memserver.StartSMTP()
	if err != nil {
		return fmt.Errorf("demo SMTP server: %w", err)
	}
	defer smtpSrv.Close()

	c := &a.cfg
	c.Store.Path = filepath.Join(dir, "demo.db")
	if keep != "" {
		c.Store.Path = keep
	}
	c.IMAP = config.IMAPConfig{Address: imapSrv.Addr(), TLS: "none", Username: imapSrv.Username, Password: imapSrv.Password,
		Mailbox: "INBOX", Idle: true, PollInterval: 30 * time.Second, BatchSize: 100, BatchBytes: 8 << 20, Watchdog: 20 * time.Second, IdleRestart: 9 * time.Minute,
		StartAt: poller.StartAll} // the sample mail is delivered before the daemon starts
	c.SMTP.Address, c.SMTP.TLS, c.SMTP.Username, c.SMTP.Password = smtpSrv.Addr(), "none", "", ""
	c.SMTP.OAuth2, c.IMAP.OAuth2 = config.OAuth2Config{}, config.OAuth2Config{}
	if c.Support.StaffQueue == "" {
		c.Support.StaffQueue = "staff-queue@vendor.test"
	}
	if len(c.Support.Staff) == 0 {
		c.Support.Staff = []string{"@staff.vendor.test"}
	}
	c.Metrics.Listen = ""

	logOut := io.Discard
	if verbose {
		logOut = a.stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// The sample mail is dated the week of 23 November 2026: the daemon's clock
	// runs from the week's first sample, so its tickets' deadlines lie ahead as
	// they would in production (on the real clock every one of them would be
	// days overdue and breached at once). The SLA step below shows a warning and
	// a breach on the real clock.
	weekStart := demoWeekStart()
	began := time.Now()
	k, err := c.Build(ctx, config.Options{Logger: log, SpoolDir: filepath.Join(dir, "spool"),
		Daemon: func(dc *daemon.Config) { dc.Now = func() time.Time { return weekStart.Add(time.Since(began)) } }})
	if err != nil {
		return err
	}
	defer k.Close()
	db := k.Store
	csv, _ := demoFiles.ReadFile("demo/customers.csv")
	st, err := db.ImportCustomers(bytes.NewReader(csv), nil)
	if err != nil {
		return fmt.Errorf("demo customers: %w", err)
	}
	fmt.Fprintf(a.stdout, "supportd demo — IMAP %s, SMTP %s (in-process), %d sample customers, store %s\n\n",
		imapSrv.Addr(), smtpSrv.Addr(), st.Added, c.Store.Path)

	names, _ := demoFiles.ReadDir("demo")
	var files []string
	for _, n := range names {
		if strings.HasSuffix(n.Name(), ".eml") {
			files = append(files, n.Name())
		}
	}
	sort.Strings(files)
	uidFile := map[uint32]string{}
	for _, name := range files {
		raw, _ := demoFiles.ReadFile("demo/" + name)
		at, err := time.Parse(time.RFC3339, demoReceived[name])
		if err != nil {
			return fmt.Errorf("demo %s: no receipt time", name)
		}
		uid, err := imapSrv.Append("INBOX", raw, at)
		if err != nil {
			return err
		}
		uidFile[uid] = name
	}

	uv, err := imapSrv.UIDValidity("INBOX")
	if err != nil {
		return err
	}
	d := k.Daemon
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(runCtx) }()
	// Wait until every message is in the ledger and the outbox is empty.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, pending := demoProgress(db, uv, len(files))
		if n == len(files) && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			return fmt.Errorf("demo: %d of %d messages processed, %d replies pending after 30s", n, len(files), pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// The staff part of the loop: engineers reply to their staff copies.
	staffUIDs, err := demoStaffReplies(imapSrv, smtpSrv, db)
	if err == nil {
		err = demoWait(db, uv, staffUIDs)
	}
	cancel()
	if derr := <-done; derr != nil {
		return derr
	}
	if err != nil {
		return err
	}
	if err := a.demoReport(db, smtpSrv, uv, uidFile, elapsed, verbose); err != nil {
		return err
	}
	a.demoStaffReport(db, smtpSrv)
	if err := a.demoSLA(ctx, db, imapSrv, smtpSrv, uv, log, filepath.Join(dir, "spool")); err != nil {
		return err
	}
	if keep != "" {
		fmt.Fprintf(a.stdout, "\nThe demo's store is kept at %s: try `supportd --store %s tickets list`.\n", keep, keep)
	}
	return a.demoDashboard(ctx, db, serve)
}

// demoDashboard serves the staff dashboard of the demo's store on a loopback
// port with a fresh token and prints where; with serve it keeps serving until
// ctx ends (Ctrl-C), else it stops at once.
func (a *app) demoDashboard(ctx context.Context, db *store.DB, serve bool) error {
	tok, err := newAdminToken()
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(a.cfg.Support.Timezone)
	if err != nil {
		return fmt.Errorf("support.timezone: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo dashboard: %w", err)
	}
	srv := &http.Server{Handler: dashboard.New(dashboard.Options{DB: db, Token: tok, Location: loc}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(a.stdout, "\nStaff dashboard: http://%s/ (sign in with the token %s)\n", ln.Addr(), tok)
	if !serve {
		fmt.Fprintln(a.stdout, "It stopped with the demo; `supportd demo --serve` (make demo ARGS=--serve) keeps it open until Ctrl-C.")
		return nil
	}
	fmt.Fprintln(a.stdout, "Serving until Ctrl-C.")
	<-ctx.Done()
	fmt.Fprintln(a.stdout, "Dashboard stopped.")
	return nil
}

// demoWait waits until the messages uids are processed and the outbox is empty.
func demoWait(db *store.DB, uv uint32, uids []uint32) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		done, pending := 0, 0
		_ = db.View(func(tx *store.Tx) error {
			for _, u := range uids {
				if e, _ := tx.SeenUID("INBOX", uv, u); e != nil {
					done++
				}
			}
			pending, _, _ = tx.OutboxStats()
			return nil
		})
		if done == len(uids) && pending == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("demo: the staff replies were not processed within 30s")
}

func demoProgress(db *store.DB, uv uint32, want int) (processed, pending int) {
	_ = db.View(func(tx *store.Tx) error {
		processed = 0
		for uid := uint32(1); uid <= uint32(want); uid++ {
			if e, _ := tx.SeenUID("INBOX", uv, uid); e != nil {
				processed++
			}
		}
		pending, _, _ = tx.OutboxStats()
		return nil
	})
	return processed, pending
}

// demoReport prints message → ticket, status, priority, action, deadline, and who
// got which reply, read back from the store and from what the SMTP server received.
func (a *app) demoReport(db *store.DB, smtpSrv *memserver.SMTP, uv uint32, uidFile map[uint32]string, elapsed time.Duration, verbose bool) error {
	sent := smtpSrv.Messages()
	byInReplyTo := map[string][]memserver.Received{}
	staff, slaNotices, auto := 0, 0, 0
	var briefs []string
	for _, r := range sent {
		if strings.Contains(r.Header("Subject"), "] Quote request: ") {
			briefs = append(briefs, "to "+strings.Join(r.To, ", ")+": "+r.Header("Subject"))
		}
		if r.Header("Auto-Submitted") == "auto-replied" && r.Header("X-Support-Ticket") == "" {
			auto++ // acknowledgements and notices to customers (not relays, not staff notices)
		}
		if irt := store.NormalizeMessageID(r.Header("In-Reply-To")); irt != "" {
			byInReplyTo[irt] = append(byInReplyTo[irt], r)
		}
		switch {
		case r.Header("X-Support-Priority") != "":
			staff++
		case r.Header("X-Support-SLA") != "":
			slaNotices++
		}
	}
	loc, err := time.LoadLocation(a.cfg.Support.Timezone)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE\tFROM\tTICKET\tSTATUS\tP\tACTION\tDEADLINE (Adelaide)\tREPLY")
	uids := make([]int, 0, len(uidFile))
	for uid := range uidFile {
		uids = append(uids, int(uid))
	}
	sort.Ints(uids)
	err = db.View(func(tx *store.Tx) error {
		for _, u := range uids {
			uid := uint32(u)
			e, err := tx.SeenUID("INBOX", uv, uid)
			if err != nil || e == nil {
				fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tnot processed\t-\t-\n", uidFile[uid])
				continue
			}
			t, _ := tx.Ticket(e.Ticket)
			from, status, prio, deadline := "-", "-", "-", "-"
			if t != nil {
				status, prio = string(t.Status), fmt.Sprintf("P%d", t.Priority)
				if !t.Deadline.IsZero() && e.Action != "follow_up" {
					deadline = t.Deadline.In(loc).Format("Mon 02 Jan 15:04 MST")
				}
				for _, m := range t.Messages {
					if m.MessageID == e.MessageID {
						from = t.From
					}
				}
				if from == "-" {
					from = t.From
				}
			}
			action := e.Action
			if e.SuppressReason != "" {
				action += " (" + e.SuppressReason + ")"
			}
			if t != nil && slices.ContainsFunc(t.Messages, func(m store.TicketMessage) bool { return m.Action == "never_purchased" }) {
				action += " (never_purchased)"
			}
			reply := "none"
			for _, r := range byInReplyTo[e.MessageID] {
				if r.Header("X-Support-Priority") != "" {
					continue
				}
				reply = "to " + strings.Join(r.To, ", ") + ": " + clip(r.Header("Subject"), 50)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uidFile[uid], clip(from, 22), e.Ticket, status, prio, action, deadline, reply)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tw.Flush()
	fmt.Fprintf(a.stdout, "\n%d messages processed in %v; %d automatic replies and %d routed copies for staff sent over SMTP.\n",
		len(uidFile), elapsed.Round(time.Millisecond), auto, staff)
	for _, b := range briefs {
		fmt.Fprintf(a.stdout, "Sales brief (internal, beside the lapsed and never-purchased notices) %s\n", b)
	}
	if slaNotices > 0 {
		fmt.Fprintf(a.stdout, "%d SLA notices went to staff: the sample mail is dated in the past, so its deadlines have passed.\n", slaNotices)
	}
	fmt.Fprintln(a.stdout, "Every message was tagged in IMAP (P1…P4, ASUP/Trial/Free/Lapsed/Unknown, FollowUp, Suppressed).")
	if verbose {
		for _, r := range sent {
			fmt.Fprintf(a.stdout, "\n----- to %s -----\n%s\n", strings.Join(r.To, ", "), r.Data)
		}
	} else {
		fmt.Fprintln(a.stdout, "Run `supportd demo -v` to read every reply in full.")
	}
	return nil
}
