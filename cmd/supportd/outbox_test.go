package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/poller"
	"supportd/store"
)

// `supportd outbox list|retry`: failed entries are listed and put back in the
// queue, directly or through the running daemon's admin API.
func TestOutboxListRetry(t *testing.T) {
	env := storeWithCustomers(t)
	path := strings.TrimPrefix(env[0], "SUPPORTD_STORE_PATH=")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var ids []uint64
	if err := db.Update(func(tx *store.Tx) error {
		for i, id := range []string{"<a@vendor.test>", "<b@vendor.test>", "<c@vendor.test>"} {
			n, err := tx.Enqueue(&store.OutboxEntry{MessageID: id, Kind: store.KindReply, Ticket: "CS-00000" + string(rune('1'+i)), From: "support@vendor.test",
				To: []string{"alice@acme.test"}, Data: []byte("Subject: x\r\n\r\nx\r\n"), Created: now, NextAttempt: now.Add(time.Hour)})
			if err != nil {
				return err
			}
			ids = append(ids, n)
		}
		if err := tx.MarkFailed(ids[0], "smtp rcpt <alice@acme.test>: 553 5.7.1 Sender address rejected: not owned by user"); err != nil {
			return err
		}
		return tx.MarkFailed(ids[1], "smtp data: 554 5.6.0 content rejected")
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	out, _, err := cli(t, env, "outbox", "list", "--failed")
	if err != nil || strings.Count(out, "failed") != 2 || !strings.Contains(out, "553 5.7.1") || strings.Contains(out, "pending") {
		t.Fatalf("outbox list --failed: %v\n%s", err, out)
	}
	if _, _, err := cli(t, env, "outbox", "retry"); err == nil || exitCode(err) != 2 {
		t.Fatalf("outbox retry without ids: %v, want a usage error", err)
	}
	out, _, err = cli(t, env, "outbox", "retry", "1")
	if err != nil || !strings.Contains(out, "1 entries re-queued") {
		t.Fatalf("outbox retry 1: %v\n%s", err, out)
	}
	out, _, _ = cli(t, env, "outbox", "list")
	if strings.Count(out, "pending") != 2 || strings.Count(out, "failed") != 1 {
		t.Fatalf("after retry 1:\n%s", out)
	}

	// While run holds the store: through the admin API.
	db, err = store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := poller.New(poller.Config{Address: "127.0.0.1:1", TLS: "none", Username: "u", Password: "p", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newAdminToken()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, addr, err := serveMetrics("127.0.0.1:0", daemon.NewMetrics(nil), healthOf(p, nil), &adminAPI{db: db, token: tok, log: log}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	remove, err := writeAdminToken(path, tok, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	env = append(env, "SUPPORTD_METRICS_LISTEN="+addr, "SUPPORTD_STORE_LOCK_TIMEOUT=100ms")
	out, stderr, err := cli(t, env, "outbox", "retry", "--failed")
	if err != nil || !strings.Contains(out, "1 entries re-queued") || !strings.Contains(stderr, "admin API") {
		t.Fatalf("outbox retry --failed beside a running daemon: %v\n%s%s", err, out, stderr)
	}
	var pending int
	db.View(func(tx *store.Tx) error { pending, _, err = tx.OutboxStats(); return err })
	if pending != 3 {
		t.Fatalf("%d pending after retrying through the daemon, want 3", pending)
	}
}
