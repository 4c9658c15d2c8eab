package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/poller"
	"supportd/store"
)

// `supportd run` on a fresh store and a mailbox that holds mail exits with an
// error telling the operator to choose; --start-at now starts and keeps the
// choice in the store; a later start ignores --start-at.
func TestRunRefusesFirstStartWithoutChoice(t *testing.T) {
	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{LMTP: true})
	mp := testenv.Mailpit(t)
	// The customer's message comes in through the MX (Postfix, LMTP into Dovecot).
	testenv.StartPostfix(t, dv, nil).Deliver(t, harness.CRLF(harness.Msg("Alice <alice@acme.test>", "Backup fails", "old@acme.test", "Build 9653\n")))
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "supportd.db")
	cfg := writeConfig(t, fmt.Sprintf(`
store: {path: %q}
imap: {address: %q, tls: none, username: %q, poll_interval: 1s}
smtp: {address: %q, tls: none}
metrics: {listen: ""}
`, dbPath, dv.Addr(), dv.User(), mp.SMTPAddr()))
	env := []string{"SUPPORTD_IMAP_PASSWORD=" + dv.Password()}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := cliCtx(ctx, env, "--config", cfg, "run")
	if !errors.Is(err, poller.ErrStartAtRequired) || !strings.Contains(err.Error(), "--start-at now|all|DATE") || exitCode(err) != 1 {
		t.Fatalf("run without a start choice: %v (exit %d), want ErrStartAtRequired naming --start-at", err, exitCode(err))
	}
	if _, _, err := cliCtx(ctx, env, "--config", cfg, "run", "--start-at", "someday"); err == nil || !strings.Contains(err.Error(), "imap.start_at") {
		t.Fatalf("run --start-at someday: %v, want an error naming imap.start_at", err)
	}

	// --start-at now: runs (until stopped), answers nothing old, keeps the choice.
	rctx, stop := context.WithCancel(ctx)
	logs := &harness.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		root := newRootCmd(io.Discard, logs, env)
		root.SetArgs([]string{"--config", cfg, "run", "--start-at", "now"})
		done <- root.ExecuteContext(rctx)
	}()
	harness.WaitFor(t, 20*time.Second, "the start point logged", func() bool { return strings.Contains(logs.String(), "start_at=now") })
	harness.WaitFor(t, 20*time.Second, "the mailbox idle", func() bool {
		return strings.Contains(logs.String(), "imap new messages") || strings.Contains(logs.String(), "supportd running")
	})
	time.Sleep(500 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run --start-at now: %v\n%s", err, logs.String())
	}
	db, err := store.Open(dbPath, &store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rec *store.StartRecord
	if err := db.View(func(tx *store.Tx) error { rec, err = tx.StartRecord("INBOX"); return err }); err != nil || rec == nil {
		t.Fatalf("start record: %v, %v", rec, err)
	}
	if rec.Choice != "now" || rec.Exists != 1 || rec.Checkpoint != rec.UIDNext-1 {
		t.Errorf("start record %+v, want now with the checkpoint at UIDNEXT-1", rec)
	}
	if n := len(mp.Messages(t)); n != 0 {
		t.Errorf("run --start-at now answered %d old messages", n)
	}
}

// cliCtx runs the CLI with a context (run stops when it is cancelled).
func cliCtx(ctx context.Context, env []string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// A run started while the previous one still holds the store (SIGTERM, outbox
// flush of up to 10 s, systemd restarting 2 s later) waits for the lock
// instead of failing with "store … is locked".
func TestRunWaitsForTheStoreLock(t *testing.T) {
	dv := testenv.Dovecot(t)
	mp := testenv.Mailpit(t)
	dbPath := filepath.Join(t.TempDir(), "supportd.db")
	cfg := writeConfig(t, fmt.Sprintf(`
store: {path: %q, lock_timeout: 1s}
imap: {address: %q, tls: none, username: %q, poll_interval: 1s}
smtp: {address: %q, tls: none}
metrics: {listen: ""}
`, dbPath, dv.Addr(), dv.User(), mp.SMTPAddr()))
	held, err := store.Open(dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	logs := &harness.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		root := newRootCmd(io.Discard, logs, []string{"SUPPORTD_IMAP_PASSWORD=" + dv.Password()})
		root.SetArgs([]string{"--config", cfg, "run"})
		done <- root.ExecuteContext(ctx)
	}()
	harness.WaitFor(t, 10*time.Second, "the wait announced", func() bool { return strings.Contains(logs.String(), "store is locked") })
	time.Sleep(3 * time.Second) // longer than store.lock_timeout
	held.Close()
	harness.WaitFor(t, 20*time.Second, "run started", func() bool { return strings.Contains(logs.String(), "supportd running") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
}
