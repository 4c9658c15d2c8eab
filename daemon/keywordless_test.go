package daemon_test

import (
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/testenv"
	"supportd/triage"
)

// Issue 14 item 4: a mailbox that cannot store keywords (PERMANENTFLAGS
// without \*: Exchange Online, a shared mailbox without the ACL right w) warns
// once per session, counts the dropped keywords, and still routes by folder.
func TestKeywordlessMailboxWarnsAndRoutesByFolder(t *testing.T) {
	e := newEnv(t)
	// Postfix delivers over LMTP as the mailbox's owner: the missing right w
	// stops only the IMAP client's keywords.
	e.throughPostfix(testenv.DovecotOptions{NoKeywords: true})
	e.deliver(msg("Alice <alice@acme.test>", "Backup fails", "kw1@acme.test", "Build Number: 9653\nThe nightly backup fails.\n"))
	e.deliver(msg("Peter <peter@initech.test>", "AD sync", "kw2@initech.test", "Build 9640, how do we schedule AD sync?\n"))
	r := e.start(runOpts{idle: true, engine: func(eng *daemon.Engine) {
		eng.Triage.Rules = []triage.Rule{{Name: "all", Folder: "Support/Triaged"}}
	}})
	defer r.stop(t)
	e.mailpit.WaitMessages(t, 2, 20*time.Second)
	waitFor(t, 20*time.Second, "both moved to the folder", func() bool {
		return len(e.dovecot.Messages(t, "Support/Triaged")) == 2 && len(e.dovecot.Messages(t, "INBOX")) == 0
	})
	for _, m := range e.dovecot.Messages(t, "Support/Triaged") {
		viaPostfix(t, m)
		for _, f := range m.Flags {
			if !strings.HasPrefix(f, "\\") {
				t.Errorf("keyword %q stored in a mailbox without the keyword right", f)
			}
		}
	}
	if n := strings.Count(e.logs.String(), "imap mailbox cannot store keywords"); n != 1 {
		t.Errorf("the keywordless warning appears %d times in one session, want once", n)
	}
	mfs, err := r.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	dropped := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "supportd_imap_keywords_dropped_total" {
			dropped = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if dropped < 6 { // P1 ASUP $SupportdProcessed, P2 Trial $SupportdProcessed
		t.Errorf("supportd_imap_keywords_dropped_total = %v, want ≥ 6", dropped)
	}
}
