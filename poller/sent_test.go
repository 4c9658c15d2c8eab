package poller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// The Sent folder is found by its \Sent special-use attribute (RFC 6154),
// whatever its name, and read with EXAMINE: the handler's marks are dropped,
// nothing is stored, moved or created.
func TestSpecialUseFolderReadOnly(t *testing.T) {
	ts := newTestServer(t, withCaps(imap.CapIMAP4rev1, imap.CapMove, imap.CapUIDPlus, imap.CapSpecialUse, imap.CapIdle),
		withSpecialUse(map[string]imap.MailboxAttr{"Gesendete Elemente": imap.MailboxAttrSent}))
	for _, name := range []string{"Sent", "Gesendete Elemente"} { // "Sent" is a decoy without the attribute
		if err := ts.user.Create(name, nil); err != nil {
			t.Fatal(err)
		}
	}
	ts.appendMsg("Sent", "Subject: decoy\r\n\r\nnot the sent folder\r\n")
	ts.appendMsg("Gesendete Elemente", "Subject: sent 1\r\n\r\nfrom the sent folder\r\n")

	cfg := ts.config(t)
	cfg.Mailbox, cfg.SpecialUse, cfg.ReadOnly = "", imap.MailboxAttrSent, true
	cfg.StartAt = StartAt{Mode: StartAll}
	h := newRecHandler()
	h.marks = func(f Fetched) Mark { return Mark{UID: f.UID, Keywords: []string{"P1"}, MoveTo: "Elsewhere"} }
	runPoller(t, cfg, h)

	got := h.wait(t, 1, 5*time.Second)
	if body := h.body(got[0].UID); body != "Subject: sent 1\r\n\r\nfrom the sent folder\r\n" {
		t.Fatalf("read %q, want the message of the \\Sent folder", body)
	}
	time.Sleep(300 * time.Millisecond) // marks would be applied by now
	for uid, fl := range ts.flagsOf("Gesendete Elemente") {
		if len(fl) != 0 {
			t.Errorf("uid %d has flags %v: a read-only folder was changed", uid, fl)
		}
	}
	if _, err := ts.user.Status("Elsewhere", &imap.StatusOptions{NumMessages: true}); err == nil {
		t.Error("a read-only poller created the move's folder")
	}
	// A message sent later arrives too (IDLE on the examined folder).
	ts.appendMsg("Gesendete Elemente", "Subject: sent 2\r\n\r\nlater\r\n")
	got = h.wait(t, 1, 5*time.Second)
	if body := h.body(got[0].UID); body != "Subject: sent 2\r\n\r\nlater\r\n" {
		t.Fatalf("read %q, want the second sent message", body)
	}
}

// withSpecialUse gives mailboxes special-use attributes (RFC 6154), which
// imapmemserver v2.0.0-beta.8 keeps but never sets: LIST RETURN
// (SPECIAL-USE) answers with the user's mailboxes and these attributes.
func withSpecialUse(attrs map[string]imap.MailboxAttr) serverOpt {
	return func(ts *testServer) {
		ts.wrap = func(s imapserver.Session) imapserver.Session {
			return &specialUseSession{SessionIMAP4rev2: s.(imapserver.SessionIMAP4rev2), ts: ts, attrs: attrs}
		}
	}
}

type specialUseSession struct {
	imapserver.SessionIMAP4rev2 // what imapmemserver's sessions are
	ts                          *testServer
	attrs                       map[string]imap.MailboxAttr
}

func (s *specialUseSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) != 1 || patterns[0] != "*" || ref != "" {
		return s.SessionIMAP4rev2.List(w, ref, patterns, options)
	}
	for _, name := range s.ts.mailboxNames() {
		d := &imap.ListData{Mailbox: name, Delim: '/'}
		if a, ok := s.attrs[name]; ok && options != nil && options.ReturnSpecialUse {
			d.Attrs = append(d.Attrs, a)
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// mailboxNames lists the user's mailboxes through the memserver itself.
func (ts *testServer) mailboxNames() []string {
	var names []string
	for _, name := range []string{"INBOX", "Sent", "Gesendete Elemente", "Elsewhere"} {
		if _, err := ts.user.Status(name, &imap.StatusOptions{NumMessages: true}); err == nil {
			names = append(names, name)
		}
	}
	return names
}

// A server that marks no folder \Sent: Run returns ErrNoSpecialUse at once
// instead of retrying forever.
func TestNoSpecialUseFolderStopsRun(t *testing.T) {
	ts := newTestServer(t, withCaps(imap.CapIMAP4rev1, imap.CapSpecialUse), withSpecialUse(nil))
	if err := ts.user.Create("Sent", nil); err != nil {
		t.Fatal(err)
	}
	cfg := ts.config(t)
	cfg.SpecialUse, cfg.ReadOnly = imap.MailboxAttrSent, true
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = p.Run(ctx, newRecHandler())
	if !errors.Is(err, ErrNoSpecialUse) {
		t.Fatalf("Run = %v, want ErrNoSpecialUse", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run retried until the deadline instead of stopping")
	}
}

// validityStarter records start points like the daemon's Sent handler: a
// UIDVALIDITY change counts as never read.
type validityStarter struct {
	*recHandler
	starts []Start
}

func (v *validityStarter) Started(string) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.starts) > 0, nil
}
func (v *validityStarter) StartedUnder(_ string, uv uint32) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.ContainsFunc(v.starts, func(s Start) bool { return s.UIDValidity == uv }), nil
}
func (v *validityStarter) Start(_ string, st Start) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.starts = append(v.starts, st)
	v.cp[st.UIDValidity] = st.Checkpoint
	return nil
}

// A ValidityStarter starts again at UIDNEXT after a UIDVALIDITY change: the
// messages already there are not read again. (The waits are long because the
// reconnection after the restart backs off; under a loaded machine 5 s was
// not always enough. They end as soon as the condition holds.)
func TestValidityStarterStartsAfreshOnUIDValidityChange(t *testing.T) {
	ts := newTestServer(t)
	if err := ts.user.Create("Sent", nil); err != nil {
		t.Fatal(err)
	}
	ts.appendMsg("Sent", testMessage(1))
	cfg := ts.config(t)
	cfg.Mailbox, cfg.ReadOnly, cfg.StartAt = "Sent", true, StartAt{Mode: StartNow}
	h := &validityStarter{recHandler: newRecHandler()}
	p := runPoller(t, cfg, h)
	waitFor(t, 20*time.Second, "the start point", func() bool { return p.Stats().Connected })
	ts.appendMsg("Sent", testMessage(2))
	if got := h.wait(t, 1, 20*time.Second); h.body(got[0].UID) != testMessage(2) {
		t.Fatalf("read %q, want only the message sent after the start", h.body(got[0].UID))
	}

	// The folder is recreated (new UIDVALIDITY) with the old messages in it.
	ts.stop()
	if err := ts.user.Delete("Sent"); err != nil {
		t.Fatal(err)
	}
	if err := ts.user.Create("Sent", nil); err != nil {
		t.Fatal(err)
	}
	ts.appendMsg("Sent", testMessage(1))
	ts.appendMsg("Sent", testMessage(2))
	ts.restart()
	waitFor(t, 20*time.Second, "a second start point", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.starts) == 2
	})
	ts.appendMsg("Sent", testMessage(3))
	if got := h.wait(t, 1, 20*time.Second); h.body(got[0].UID) != testMessage(3) {
		t.Fatalf("after the UIDVALIDITY change read %q, want only the new message", h.body(got[0].UID))
	}
	select {
	case f := <-h.delivered:
		t.Fatalf("uid %d read again after the UIDVALIDITY change", f.UID)
	case <-time.After(300 * time.Millisecond):
	}
}
