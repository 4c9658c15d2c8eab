package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"supportd/store"
)

func (a *app) ticketsCmd() *cobra.Command {
	c := &cobra.Command{Use: "tickets", Short: "List, show, close and reopen tickets"}
	var open, overdue, asJSON bool
	list := &cobra.Command{
		Use:   "list [--open] [--overdue] [--json]",
		Short: "List tickets in id order (oldest first); times in support.timezone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			now, loc := time.Now(), a.location()
			views := []store.TicketView{}
			err = db.View(func(tx *store.Tx) error {
				return tx.ForEachTicket(open || overdue, func(t store.Ticket) error {
					if overdue && !t.Overdue(now) {
						return nil
					}
					views = append(views, t.View(now, loc, false))
					return nil
				})
			})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(views)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TICKET\tSTATE\tP\tSTATUS\tREQUESTER\tRESPONSE DUE\tBREACHES\tSUBJECT")
			for _, v := range views {
				due := a.timePtrText(v.ResponseDue)
				if v.Overdue {
					due += " OVERDUE"
				}
				fmt.Fprintf(tw, "%s\t%s\tP%d\t%s\t%s\t%s\t%d\t%s\n", v.ID, v.State, v.Priority, v.Status, v.Requester,
					due, v.Breaches, clip(v.Subject, 60))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&open, "open", false, "only open tickets (a response from us is due; not answered or closed)")
	list.Flags().BoolVar(&overdue, "overdue", false, "only open tickets whose response is overdue")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON (field names as in the documentation)")
	var showJSON bool
	show := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one ticket and its messages (direction, kind, sender)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			var t *store.Ticket
			if err := db.View(func(tx *store.Tx) error {
				t, err = tx.Ticket(args[0])
				return err
			}); err != nil {
				return err
			}
			if t == nil {
				return fmt.Errorf("no ticket %s", args[0])
			}
			v := t.View(time.Now(), a.location(), true)
			if showJSON {
				return a.printJSON(v)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ticket\t%s\nstate\t%s\nsubject\t%s\nrequester\t%s\ncustomer\t%s %s\nstatus\t%s (P%d)\ncreated\t%s\n",
				t.ID, t.State, t.Subject, t.From, t.CustomerID, t.Company, t.Status, t.Priority, a.timeText(t.Created))
			fmt.Fprintf(tw, "first response due\t%s\nfirst response at\t%s\nresponse due\t%s\nbreaches\t%d\n",
				a.timeText(t.Deadline), a.timeText(t.FirstResponseAt), a.timeText(t.ResponseDue), t.Breaches)
			if t.ReferencedTicket != "" {
				fmt.Fprintf(tw, "referenced ticket\t%s\n", t.ReferencedTicket)
			}
			fmt.Fprintln(tw, "\nAT\tDIR\tKIND\tACTION\tFROM\tMESSAGE-ID")
			for i, m := range v.Messages {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.timeText(m.At), m.Direction, m.Kind, t.Messages[i].Action, deref(m.From), deref(m.MessageID))
			}
			return tw.Flush()
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON (field names as in the documentation)")
	c.AddCommand(list, show, a.ticketStateCmd("close", store.StateClosed), a.ticketStateCmd("reopen", store.StateOpen))
	return c
}

// ticketStateCmd is `tickets close ID` or `tickets reopen ID`; while run
// holds the store the change goes through its admin API.
func (a *app) ticketStateCmd(verb, state string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: strings.ToUpper(verb[:1]) + verb[1:] + " a ticket",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := a.engine()
			if err != nil {
				return err
			}
			db, err := store.Open(a.cfg.Store.Path, &store.Options{Timeout: a.cfg.Store.LockTimeout, Logger: a.logger()})
			if err != nil {
				if err := a.viaDaemon(err); err != nil {
					return fmt.Errorf("store.path %s: %w", a.cfg.Store.Path, err)
				}
				if err := a.ticketStateViaDaemon(cmd.Context(), args[0], state); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "ticket %s %s\n", args[0], state)
				return nil
			}
			defer db.Close()
			if err := db.Update(func(tx *store.Tx) error {
				_, err := eng.SetTicketState(tx, args[0], state, time.Now())
				return err
			}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "ticket %s %s\n", args[0], state)
			return nil
		},
	}
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

// location is support.timezone (UTC if it does not load; config check says so).
func (a *app) location() *time.Location {
	if a.supportLoc == nil {
		loc, err := time.LoadLocation(a.cfg.Support.Timezone)
		if err != nil {
			loc = time.UTC
		}
		a.supportLoc = loc
	}
	return a.supportLoc
}

func (a *app) timePtrText(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return a.timeText(*t)
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write everything run needs (store, raw message copies, the outbox's acceptance log) to one file, 0600 (works while run holds the store)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The archive is written beside FILE and renamed onto it once
			// complete, so a half-written backup never passes for one: a file
			// it must be.
			if p := strings.TrimSpace(args[0]); p == "" || p == "-" {
				return usageError{fmt.Errorf("backup %q: give the path of the file to write (the archive is written whole, then renamed into place; it does not go to stdout)", args[0])}
			}
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
				return usageError{fmt.Errorf("backup %s: it is a directory: give the path of the file to write, e.g. %s", args[0], filepath.Join(args[0], "supportd.backup"))}
			}
			if same, err := store.SamePath(args[0], a.cfg.Store.Path); err != nil || same {
				return fmt.Errorf("backup to %s: refusing: it is the store itself (store.path)", args[0])
			}
			// Not openStore: that would read a snapshot into a temporary file
			// first; a backup is better streamed straight to its place.
			db, err := store.Open(a.cfg.Store.Path, &store.Options{Timeout: a.cfg.Store.LockTimeout, ReadOnly: true, Logger: a.logger()})
			if errors.Is(err, store.ErrLocked) && a.cfg.Metrics.Listen != "" {
				// `run` holds the file: ask it for the archive.
				st, err := a.archiveFromDaemon(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "backup written to %s (from the running daemon): %s\n", args[0], st)
				return nil
			}
			if err != nil {
				return fmt.Errorf("store.path %s: %w", a.cfg.Store.Path, err)
			}
			defer db.Close()
			st, err := db.BackupFile(args[0])
			if err != nil {
				return err // names the path ("backup to FILE: …")
			}
			fmt.Fprintf(a.stdout, "backup written to %s: %s\n", args[0], st)
			return nil
		},
	}
}

func (a *app) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Rebuild the store and its raw message copies from a backup into an empty store.path (checks the whole backup first)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.RestoreFile(args[0], a.cfg.Store.Path)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "restored %s into %s: %s\n", args[0], a.cfg.Store.Path, st)
			return nil
		},
	}
}

// timeText shows t in support.timezone with its offset ("-" for none), so every
// time a ticket shows reads the same way as the deadlines in the replies.
func (a *app) timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(a.location()).Format("2006-01-02 15:04 -07:00")
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
