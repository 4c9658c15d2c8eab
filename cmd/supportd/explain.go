package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"supportd/daemon"
	"supportd/sla"
	"supportd/store"
	"supportd/triage"
)

// engine builds the decision engine of the configuration.
func (a *app) engine() (*daemon.Engine, error) { return a.cfg.Engine() }

// openStore opens the store; readOnly commands wait at most store.lock_timeout for
// the lock and then say who holds it.
//
// A reading command finding the store held by `supportd run` reads a consistent
// snapshot the daemon serves on its loopback metrics listener instead, and says
// so; a writing command gets the error and goes through the admin API (admin.go).
func (a *app) openStore(readOnly bool) (*store.DB, error) {
	if _, err := os.Stat(a.cfg.Store.Path); readOnly && errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store.path %s does not exist: check --store or store.path (customers import or restore creates the store)", a.cfg.Store.Path)
	}
	db, err := store.Open(a.cfg.Store.Path, &store.Options{Timeout: a.cfg.Store.LockTimeout, ReadOnly: readOnly, Logger: a.logger()})
	if err == nil {
		if !readOnly {
			// We hold the write lock, so no daemon runs on this store: an admin
			// token file is a killed daemon's leftover and must not be used.
			_ = os.Remove(adminTokenPath(a.cfg.Store.Path))
		}
		return db, nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("store.path %s: %w", a.cfg.Store.Path, err)
	}
	if !readOnly {
		// The writing commands go through the daemon's admin API (viaDaemon).
		return nil, fmt.Errorf("store.path %s: %w", a.cfg.Store.Path, err)
	}
	if a.cfg.Metrics.Listen == "" {
		return nil, fmt.Errorf("store.path %s: %w (and metrics.listen is empty, so no snapshot can be read from it)", a.cfg.Store.Path, err)
	}
	snap, serr := a.daemonSnapshot()
	if serr != nil {
		return nil, fmt.Errorf("store.path %s: %w; reading a snapshot from the running daemon at metrics.listen %s failed too: %v", a.cfg.Store.Path, err, a.cfg.Metrics.Listen, serr)
	}
	fmt.Fprintf(a.stderr, "note: store.path %s is held by a running supportd; reading a consistent snapshot from it\n", a.cfg.Store.Path)
	return snap, nil
}

// daemonSnapshot downloads the running daemon's consistent copy of the store into
// a temporary file and opens it read-only (the file is unlinked at once).
func (a *app) daemonSnapshot() (*store.DB, error) {
	dir, err := os.MkdirTemp("", "supportd-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "snapshot.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.backupFromDaemon(ctx, path); err != nil {
		return nil, err
	}
	return store.Open(path, &store.Options{ReadOnly: true, Timeout: time.Second})
}

func (a *app) explainCmd() *cobra.Command {
	var received string
	c := &cobra.Command{
		Use:   "explain [--received RFC3339] FILE.eml|-",
		Short: "Print the decision for one message as JSON, reading the store only",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at := time.Now()
			if received != "" {
				t, err := parseReceived(received)
				if err != nil {
					return usageError{err}
				}
				at = t
			}
			eng, err := a.engine()
			if err != nil {
				return err
			}
			x, err := a.explain(eng, args[0], cmd.InOrStdin(), at)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(x)
		},
	}
	c.Flags().StringVar(&received, "received", "", "receipt time (RFC 3339) instead of now, as IMAP INTERNALDATE would give")
	return c
}

// parseReceived reads --received: RFC 3339, with "z"/"t" in either case and
// the seconds optional (2026-11-25T10:00Z).
func parseReceived(s string) (time.Time, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, u); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--received: %q is not an RFC 3339 time (2026-11-25T10:00:00+10:30 or 2026-11-24T23:30:00Z)", s)
}

// explain parses one file ("-": stdin) and decides it against the store,
// read-only.
func (a *app) explain(eng *daemon.Engine, path string, stdin io.Reader, at time.Time) (*daemon.Explanation, error) {
	var f io.Reader = stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		f = file
	} else {
		path = "standard input"
	}
	parser, err := a.cfg.Parser()
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	msg, err := parser.Parse(io.TeeReader(f, h))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Parse may stop early at a limit; hash the rest for a stable content key.
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key := hex.EncodeToString(h.Sum(nil))
	var reported []string
	if sk, ok := f.(io.Seeker); ok && triage.IsReport(msg) { // a file, not stdin
		if _, err := sk.Seek(0, io.SeekStart); err == nil {
			reported = daemon.ReportedIDs(f)
		}
	}

	db, err := a.openStoreForReading()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var asm *daemon.Assessment
	err = db.View(func(tx *store.Tx) error {
		asm, err = eng.Assess(tx, msg, at, key, tx.PeekNextTicketID, reported)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := eng.RenderReply(asm); err != nil {
		return nil, fmt.Errorf("render reply: %w", err)
	}
	x := asm.Explain(sla.FormatTarget)
	return &x, nil
}

// openStoreForReading opens the store read-only; a store that does not exist yet is
// read as empty (no customers, no tickets) from a throw-away file, so explain works
// on a fresh machine without creating store.path.
func (a *app) openStoreForReading() (*store.DB, error) {
	if _, err := os.Stat(a.cfg.Store.Path); !errors.Is(err, os.ErrNotExist) {
		return a.openStore(true)
	}
	dir, err := os.MkdirTemp("", "supportd-empty-")
	if err != nil {
		return nil, err
	}
	db, err := store.Open(dir+"/empty.db", nil)
	os.RemoveAll(dir) // the open file stays usable
	if err != nil {
		return nil, fmt.Errorf("empty store: %w", err)
	}
	// A mistyped --store would otherwise give a confident answer about a
	// customer as if they were unknown.
	fmt.Fprintf(a.stderr, "note: store.path %s does not exist: read as empty, every sender is unknown (check --store or store.path, or import customers first)\n", a.cfg.Store.Path)
	return db, nil
}
