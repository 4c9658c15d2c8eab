package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"supportd/store"
)

// outboxCmd is `supportd outbox list|retry`: what waits for SMTP, and putting
// failed entries back in the queue once a configuration fault is fixed.
func (a *app) outboxCmd() *cobra.Command {
	c := &cobra.Command{Use: "outbox", Short: "List the outgoing mail not sent yet; re-queue failed entries"}
	var failedOnly bool
	list := &cobra.Command{
		Use:   "list [--failed]",
		Short: "List pending and failed outbox entries (oldest first); times in support.timezone",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer db.Close()
			var es []store.OutboxEntry
			if err := db.View(func(tx *store.Tx) error { es, err = tx.OutboxList(failedOnly); return err }); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tKIND\tTICKET\tTO\tATTEMPTS\tNEXT\tLAST ERROR")
			for _, e := range es {
				next := "-"
				if e.State == store.OutboxPending {
					next = a.timeText(e.NextAttempt)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.ID, e.State, e.Kind, e.Ticket, clip(strings.Join(e.To, ","), 40),
					e.Attempts, next, clip(e.LastError, 100))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&failedOnly, "failed", false, "only entries that failed permanently")
	var allFailed bool
	retry := &cobra.Command{
		Use:   "retry (ID... | --failed)",
		Short: "Put entries back in the queue, due now: failed ones become pending again (through the running daemon when it holds the store)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs(args)
			if err != nil {
				return usageError{err}
			}
			if len(ids) == 0 && !allFailed {
				return usageError{fmt.Errorf("name entry ids (supportd outbox list) or --failed")}
			}
			db, err := a.openStore(false)
			if err != nil {
				if err := a.viaDaemon(err); err != nil {
					return err
				}
				n, err := a.retryViaDaemon(cmd.Context(), ids, allFailed)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d entries re-queued\n", n)
				return nil
			}
			defer db.Close()
			n, err := requeue(db, ids, allFailed, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d entries re-queued\n", n)
			return nil
		},
	}
	retry.Flags().BoolVar(&allFailed, "failed", false, "every entry that failed permanently")
	c.AddCommand(list, retry)
	return c
}

func parseIDs(args []string) ([]uint64, error) {
	var ids []uint64
	for _, s := range args {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an outbox entry id", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// requeue re-queues ids (and with allFailed every failed entry) in one
// transaction and returns how many were re-queued.
func requeue(db *store.DB, ids []uint64, allFailed bool, now time.Time) (int, error) {
	n := 0
	err := db.Update(func(tx *store.Tx) error {
		n = 0
		want := append([]uint64(nil), ids...)
		if allFailed {
			es, err := tx.OutboxList(true)
			if err != nil {
				return err
			}
			for _, e := range es {
				want = append(want, e.ID)
			}
		}
		for _, id := range want {
			ok, err := tx.Requeue(id, now)
			if err != nil {
				return err
			}
			if ok {
				n++
			}
		}
		return nil
	})
	return n, err
}

// outboxRetry is the admin API's `outbox retry` (form: id=…&id=…&failed=true).
func (api *adminAPI) outboxRetry(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ids, err := parseIDs(r.PostForm["id"])
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n, err := requeue(api.db, ids, r.PostForm.Get("failed") == "true", time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	api.log.Info("outbox entries re-queued through the admin API", "count", n)
	_ = json.NewEncoder(w).Encode(n)
}

func (a *app) retryViaDaemon(ctx context.Context, ids []uint64, allFailed bool) (int, error) {
	form := url.Values{}
	for _, id := range ids {
		form.Add("id", strconv.FormatUint(id, 10))
	}
	if allFailed {
		form.Set("failed", "true")
	}
	resp, err := a.adminRequest(ctx, http.MethodPost, "/outbox/retry", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int
	err = json.NewDecoder(resp.Body).Decode(&n)
	return n, err
}
