package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"supportd/store"
)

func (a *app) ticketsCmd() *cobra.Command {
	c := &cobra.Command{Use: "tickets", Short: "List and show tickets"}
	var open bool
	list := &cobra.Command{
		Use:   "list [--open]",
		Short: "List tickets in id order (oldest first); times in support.timezone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TICKET\tSTATE\tP\tSTATUS\tFROM\tDEADLINE\tMSGS\tSUBJECT")
			err = db.View(func(tx *store.Tx) error {
				return tx.ForEachTicket(open, func(t store.Ticket) error {
					fmt.Fprintf(tw, "%s\t%s\tP%d\t%s\t%s\t%s\t%d\t%s\n", t.ID, t.State, t.Priority, t.Status, t.From,
						a.timeText(t.Deadline), len(t.Messages), clip(t.Subject, 60))
					return nil
				})
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&open, "open", false, "only open tickets")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one ticket and its messages",
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
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "ticket\t%s\nstate\t%s\nsubject\t%s\nfrom\t%s\ncustomer\t%s %s\nstatus\t%s (P%d)\ncreated\t%s\nupdated\t%s\ndeadline\t%s\n",
				t.ID, t.State, t.Subject, t.From, t.CustomerID, t.Company, t.Status, t.Priority,
				a.timeText(t.Created), a.timeText(t.Updated), a.timeText(t.Deadline))
			fmt.Fprintln(tw, "\nRECEIVED\tDIR\tACTION\tUID\tMESSAGE-ID")
			for _, m := range t.Messages {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", a.timeText(m.Received), m.Direction, m.Action, m.UID, m.MessageID)
			}
			return tw.Flush()
		},
	}
	c.AddCommand(list, show)
	return c
}

func (a *app) backupCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write everything run needs (store and raw message copies) to one file, 0600 (works while run holds the store)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	if a.supportLoc == nil {
		loc, err := time.LoadLocation(a.cfg.Support.Timezone)
		if err != nil {
			loc = time.UTC
		}
		a.supportLoc = loc // once per command, not per row
	}
	return t.In(a.supportLoc).Format("2006-01-02 15:04 -07:00")
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
