package poller

import (
	"slices"
	"testing"
	"time"

	"supportd/internal/testenv"
)

// TestDovecot runs the poller against a real Dovecot (implicit TLS with a
// self-signed certificate): catch-up, keywords, move to a new folder, IDLE,
// restart of the server mid-run, UIDVALIDITY change.
func TestDovecot(t *testing.T) {
	d := testenv.StartDovecot(t, &testenv.DovecotOptions{TLS: true})
	for i := 1; i <= 3; i++ {
		d.Append(t, "INBOX", []byte(testMessage(i)))
	}
	cfg := Config{
		Address:          d.TLSAddr(),
		TLS:              TLSImplicit,
		TLSConfig:        d.TLSConfig(),
		Username:         d.User(),
		Password:         d.Password(),
		Idle:             true,
		PollInterval:     time.Minute,
		WatchdogInterval: 2 * time.Second,
		BatchSize:        2,
		SpoolDir:         t.TempDir(),
		BackoffMin:       50 * time.Millisecond,
		BackoffMax:       500 * time.Millisecond,
		Logger:           testLogger(t),
	}
	h := newRecHandler()
	h.marks = func(f Fetched) Mark {
		if f.UID == 3 {
			return Mark{UID: f.UID, Keywords: []string{"P4", "Lapsed"}, MoveTo: "Support/Lapsed"}
		}
		return Mark{UID: f.UID, Keywords: []string{"P1", "ASUP"}}
	}
	p := runPoller(t, cfg, h)

	got := h.wait(t, 3, 10*time.Second)
	for i, f := range got {
		if want := testMessage(i + 1); h.body(f.UID) != want {
			t.Errorf("uid %d body %q, want %q", f.UID, h.body(f.UID), want)
		}
	}
	waitFor(t, 5*time.Second, "keywords and move", func() bool {
		return len(d.FetchFlags(t, "INBOX")) == 2 && slices.Contains(d.Mailboxes(t), "Support/Lapsed")
	})
	for _, uid := range []uint32{1, 2} {
		if kw := d.Keywords(t, "INBOX", uid); !slices.Equal(kw, []string{"ASUP", "P1"}) {
			t.Errorf("INBOX uid %d keywords %v, want [ASUP P1]", uid, kw)
		}
		if fl := d.Flags(t, "INBOX", uid); slices.Contains(fl, `\Seen`) {
			t.Errorf("uid %d marked \\Seen by the poller: %v", uid, fl)
		}
	}
	moved := d.Messages(t, "Support/Lapsed")
	if len(moved) != 1 || !slices.Contains(moved[0].Flags, "Lapsed") || string(moved[0].Raw) != testMessage(3) {
		t.Errorf("Support/Lapsed holds %+v", moved)
	}

	// IDLE: a new message is seen without waiting for the poll interval.
	start := time.Now()
	d.Append(t, "INBOX", []byte(testMessage(4)))
	if f := h.wait(t, 1, 10*time.Second); f[0].UID != 4 {
		t.Errorf("got uid %d, want 4", f[0].UID)
	}
	t.Logf("IDLE latency with Dovecot: %v", time.Since(start))

	// Restart Dovecot mid-run.
	d.Stop()
	waitFor(t, 10*time.Second, "disconnect noticed", func() bool { return !p.Stats().Connected })
	d.Start(t)
	d.Append(t, "INBOX", []byte(testMessage(5)))
	if f := h.wait(t, 1, 10*time.Second); f[0].UID != 5 {
		t.Errorf("after restart got uid %d, want 5", f[0].UID)
	}
	if st := p.Stats(); st.Reconnects < 1 {
		t.Errorf("stats %+v, want a reconnect", st)
	}

	// UIDVALIDITY change: everything in INBOX is delivered again under the new one.
	uv := d.RecreateMailbox(t, "INBOX")
	again := h.wait(t, 4, 15*time.Second) // uids 1, 2, 4, 5 re-appended
	waitFor(t, 5*time.Second, "new uidvalidity", func() bool { return p.Stats().UIDValidity == uv })
	if len(again) != 4 {
		t.Errorf("after UIDVALIDITY change got %d messages, want 4", len(again))
	}
}
