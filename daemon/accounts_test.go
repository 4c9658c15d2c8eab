package daemon_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/harness"
	"supportd/internal/testenv"
	"supportd/store"
)

// Several mailboxes and accounts (issue 12 item 1) on real servers: two
// users of the test Dovecot, each an account with its own support address
// and its own Mailpit, whose SMTP AUTH user Mailpit records: the reply's
// server and login prove the account it went out through.

// euUser is the second account's mailbox login and support address.
const euUser = "help@vendor-eu.test"

// twoAccounts is the second account's world: its user on the test Dovecot
// and its own Mailpit.
type twoAccounts struct {
	dovecot *testenv.DovecotServer // the shared test Dovecot, logged in as euUser by login
	mailpit *testenv.MailpitServer
}

// newTwoAccounts is an env whose Dovecot has the second user too.
func newTwoAccounts(t *testing.T) (*env, *twoAccounts) {
	t.Helper()
	w := harness.NewWorldWith(t, &testenv.DovecotOptions{Users: []string{euUser}})
	e := &env{t: t, w: w, dovecot: w.Dovecot, mailpit: w.Mailpit, dbPath: w.DBPath, spool: w.Spool, logs: w.Logs}
	return e, &twoAccounts{dovecot: w.Dovecot, mailpit: testenv.Mailpit(t)}
}

// login is an IMAP session of the second user.
func (eu *twoAccounts) login(t *testing.T) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(eu.dovecot.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(euUser, eu.dovecot.Password()).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deliver appends raw to the second user's INBOX, received at harness.Received.
func (eu *twoAccounts) deliver(t *testing.T, raw string) uint32 {
	t.Helper()
	return eu.deliverAt(t, raw, harness.Received)
}

// deliverAt appends raw to the second user's INBOX, received at date.
func (eu *twoAccounts) deliverAt(t *testing.T, raw string, date time.Time) uint32 {
	t.Helper()
	b := crlf(raw)
	cmd := eu.login(t).Append("INBOX", int64(len(b)), &imap.AppendOptions{Time: date})
	if _, err := cmd.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return uint32(data.UID)
}

// flags are the flags of uid in the second user's INBOX.
func (eu *twoAccounts) flags(t *testing.T, uid uint32) []imap.Flag {
	t.Helper()
	c := eu.login(t)
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch flags of uid %d: %v (%d messages)", uid, err, len(msgs))
	}
	return msgs[0].Flags
}

// accountsYAML is accounts: as an operator writes it, loaded with
// config.Load: each entry leaves poll intervals, batch sizes and the rest
// to the top-level sections (inherited) and gives its own login.
func accountsYAML(t *testing.T, e *env, eu *twoAccounts, euPassword string) []config.AccountConfig {
	t.Helper()
	y := `accounts:
  - name: main
    addresses: [support@vendor.test]
    imap: {address: "` + e.dovecot.Addr() + `", tls: none, username: "` + e.dovecot.User() + `", password: "` + e.dovecot.Password() + `", idle: true}
    smtp: {address: "` + e.mailpit.SMTPAddr() + `", tls: none, username: main-smtp, password: main-secret, timeout: 20s}
  - name: eu
    addresses: [` + euUser + `]
    imap: {address: "` + eu.dovecot.Addr() + `", tls: none, username: "` + euUser + `", password: "` + euPassword + `", idle: true}
    smtp: {address: "` + eu.mailpit.SMTPAddr() + `", tls: none, username: eu-smtp, password: eu-secret, timeout: 20s,
           from: "EU Support <` + euUser + `>"}
`
	path := filepath.Join(t.TempDir(), "supportd.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("accounts example invalid: %v", err)
	}
	return c.AccountList
}

func (e *env) startAccounts(t *testing.T, accounts []config.AccountConfig) *running {
	t.Helper()
	return e.startAccountsWith(t, accounts, harness.Options{})
}

// startAccountsWith runs the daemon on accounts with o's further settings.
func (e *env) startAccountsWith(t *testing.T, accounts []config.AccountConfig, o harness.Options) *running {
	t.Helper()
	e.w.DBPath, e.w.Spool = e.dbPath, e.spool
	o.Idle, o.StaffQueue = true, queue
	o.Settings = func(c *config.Config) { c.AccountList = accounts }
	r := e.w.Start(o)
	return &running{Running: r, db: r.DB, metrics: r.Metrics}
}

// replyTo waits for the one message mp received for rcpt.
func replyTo(t *testing.T, mp *testenv.MailpitServer, rcpt string) testenv.MailpitMessage {
	t.Helper()
	var got []testenv.MailpitMessage
	waitFor(t, 30*time.Second, "the reply to "+rcpt, func() bool {
		got = mailTo(mp.Messages(t), rcpt)
		return len(got) > 0
	})
	if len(got) != 1 {
		t.Fatalf("%d messages to %s, want 1", len(got), rcpt)
	}
	return got[0]
}

func mailTo(msgs []testenv.MailpitMessage, rcpt string) []testenv.MailpitMessage {
	var out []testenv.MailpitMessage
	for _, m := range msgs {
		for _, to := range m.To {
			if strings.EqualFold(to.Address, rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

func TestAccountsEachAnsweredThroughItsOwnAccount(t *testing.T) {
	e, eu := newTwoAccounts(t)
	accounts := accountsYAML(t, e, eu, eu.dovecot.Password())
	if got := accounts[1].IMAP.PollInterval; got != config.Default().IMAP.PollInterval {
		t.Fatalf("accounts[1].imap.poll_interval = %v: not inherited from imap", got)
	}
	e.deliver(msg("Alice <alice@acme.test>", "Export fails", "a1@acme.test", "Export fails. Build Number: 9653\n"))
	euUID := eu.deliver(t, strings.Replace(msg("Gina <gina@globex.test>", "Licence question", "g1@globex.test", "Which licence?\n"),
		"To: support@vendor.test", "To: "+euUser, 1))

	r := e.startAccounts(t, accounts)
	defer r.stop(t)

	a := replyTo(t, e.mailpit, "alice@acme.test")
	g := replyTo(t, eu.mailpit, "gina@globex.test")
	if a.From == nil || a.From.Address != "support@vendor.test" || a.Username != "main-smtp" {
		t.Errorf("reply to alice: From %v via SMTP login %q, want support@vendor.test via main-smtp", a.From, a.Username)
	}
	if g.From == nil || g.From.Address != euUser || g.Username != "eu-smtp" {
		t.Errorf("reply to gina: From %v via SMTP login %q, want %s via eu-smtp", g.From, g.Username, euUser)
	}
	// The staff copy of the eu account's message goes out through it too,
	// with a signed reply address of that account: the staff member's answer
	// comes back to its mailbox.
	sc := replyTo(t, eu.mailpit, queue)
	if sc.Username != "eu-smtp" || len(sc.ReplyTo) != 1 || !strings.HasPrefix(sc.ReplyTo[0].Address, "help+") ||
		!strings.HasSuffix(sc.ReplyTo[0].Address, "@vendor-eu.test") {
		t.Errorf("staff copy of the eu message: via %q, Reply-To %v", sc.Username, sc.ReplyTo)
	}
	if n := len(mailTo(e.mailpit.Messages(t), "gina@globex.test")); n != 0 {
		t.Errorf("the main account's SMTP server got %d messages for the eu account's customer", n)
	}
	if n := len(mailTo(eu.mailpit.Messages(t), "alice@acme.test")); n != 0 {
		t.Errorf("the eu account's SMTP server got %d messages for the main account's customer", n)
	}
	// The keywords are set on the message in the mailbox it came from.
	waitFor(t, 10*time.Second, "the eu message marked processed", func() bool {
		return slices.Contains(eu.flags(t, euUID), imap.Flag(daemon.ProcessedKeyword))
	})
	// The store keeps each account's checkpoint under its own key, and the
	// ticket and outbox entry remember the account.
	err := r.db.View(func(tx *store.Tx) error {
		for _, key := range []string{"main/INBOX", "eu/INBOX"} {
			if uv, uid, err := tx.Checkpoint(key); err != nil || uv == 0 || uid != 1 {
				t.Errorf("checkpoint %s = %d/%d (%v), want uid 1", key, uv, uid, err)
			}
		}
		if uv, _, _ := tx.Checkpoint("INBOX"); uv != 0 {
			t.Errorf("a checkpoint under the implicit account's key INBOX: %d", uv)
		}
		seen := map[string]int{}
		defer func() {
			if seen["main"] != 2 || seen["eu"] != 2 {
				t.Errorf("outbox entries by account %v, want a reply and a staff copy each", seen)
			}
		}()
		for id := uint64(1); ; id++ {
			o, err := tx.OutboxEntry(id)
			if err != nil {
				if id < 3 {
					t.Errorf("outbox entry %d: %v", id, err)
				}
				break
			}
			want := "main"
			if o.From == euUser {
				want = "eu"
			}
			seen[o.Account]++
			if o.Account != want {
				t.Errorf("outbox entry %s to %v: account %q, want %q", o.MessageID, o.To, o.Account, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e.logs.String(), "account=eu mailbox=eu/INBOX") {
		t.Error("no log line carries account=eu mailbox=eu/INBOX")
	}
}

func TestMailboxesEachFolderItsOwnCheckpoint(t *testing.T) {
	e := newEnv(t)
	e.dovecot.CreateMailbox(t, "Partners")
	folders := func(c *config.Config) { c.IMAP.Mailboxes = []string{"INBOX", "Partners"} }
	e.deliver(msg("Alice <alice@acme.test>", "Export fails", "a1@acme.test", "Export fails. Build Number: 9653\n"))
	e.dovecot.AppendAt(t, "Partners", crlf(msg("Gina <gina@globex.test>", "Partner portal", "g1@globex.test", "Portal down.\n")), harness.Received)

	e.w.DBPath, e.w.Spool = e.dbPath, e.spool
	r := e.w.Start(harness.Options{Idle: true, Settings: folders})
	replyTo(t, e.mailpit, "alice@acme.test")
	replyTo(t, e.mailpit, "gina@globex.test")
	checkpoints := func(db *store.DB) (inbox, partners uint32) {
		t.Helper()
		if err := db.View(func(tx *store.Tx) error {
			_, inbox, _ = tx.Checkpoint("INBOX")
			_, partners, _ = tx.Checkpoint("Partners")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return inbox, partners
	}
	waitFor(t, 10*time.Second, "both checkpoints at uid 1", func() bool { i, p := checkpoints(r.DB); return i == 1 && p == 1 })
	if v := daemon.CounterValue(r.Metrics.Messages.WithLabelValues("acknowledge", "active", "Partners")); v != 1 {
		t.Errorf(`supportd_messages_total{action="acknowledge",status="active",mailbox="Partners"} = %v, want 1`, v)
	}
	waitFor(t, 10*time.Second, "the outbox empty", func() bool { return r.OutboxPending(t) == 0 })
	r.Stop(t)

	// While stopped: new mail in Partners only. After the restart it alone
	// is answered; INBOX's checkpoint stays, Partners' advances.
	e.dovecot.AppendAt(t, "Partners", crlf(msg("Ivy <ivy@initech.test>", "Partner API", "i1@initech.test", "API question.\n")), harness.Received)
	r = e.w.Start(harness.Options{Idle: true, Settings: folders})
	defer r.Stop(t)
	replyTo(t, e.mailpit, "ivy@initech.test")
	waitFor(t, 10*time.Second, "Partners' checkpoint at uid 2", func() bool { _, p := checkpoints(r.DB); return p == 2 })
	if i, _ := checkpoints(r.DB); i != 1 {
		t.Errorf("INBOX checkpoint %d after the restart, want 1", i)
	}
	time.Sleep(time.Second) // anything processed twice would be queued by now
	waitFor(t, 10*time.Second, "the outbox empty", func() bool { return r.OutboxPending(t) == 0 })
	if msgs := e.mailpit.Messages(t); len(msgs) != 3 {
		for _, m := range msgs {
			t.Logf("sent: %s to %v", m.Subject, m.To)
		}
		t.Errorf("%d messages sent over two runs, want 3 (nothing answered twice)", len(msgs))
	}
}

func TestAccountsWrongPasswordStopsOnlyThatAccount(t *testing.T) {
	e, eu := newTwoAccounts(t)
	e.deliver(msg("Alice <alice@acme.test>", "Export fails", "a1@acme.test", "Export fails. Build Number: 9653\n"))
	eu.deliver(t, msg("Gina <gina@globex.test>", "Licence question", "g1@globex.test", "Which licence?\n"))

	r := e.startAccounts(t, accountsYAML(t, e, eu, "wrong-password"))
	replyTo(t, e.mailpit, "alice@acme.test")
	waitFor(t, 20*time.Second, "the eu account's refused login logged", func() bool {
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, "imap authentication failed") &&
				strings.Contains(l, "component=imap account=eu mailbox=eu/INBOX") && strings.Contains(l, "key=accounts[1].imap.password") {
				return true
			}
		}
		return false
	})
	// The working account keeps answering while the other is refused.
	e.deliver(msg("Bob <bob@acme.test>", "Second problem", "b1@acme.test", "Another problem. Build Number: 9653\n"))
	replyTo(t, e.mailpit, "bob@acme.test")
	if err := r.Daemon.Health(); err == nil || !strings.Contains(err.Error(), "account eu: imap: authentication failed") ||
		strings.Contains(err.Error(), "account main") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("Health() = %v, want the eu account's refused login only", err)
	}
	if n := len(eu.mailpit.Messages(t)); n != 0 {
		t.Fatalf("the eu account sent %d messages with its mailbox unreadable", n)
	}
	r.Stop(t)

	// Fixed (restart with the right password): its mail is answered, the
	// other account's is not answered again.
	r = e.startAccounts(t, accountsYAML(t, e, eu, eu.dovecot.Password()))
	defer r.Stop(t)
	replyTo(t, eu.mailpit, "gina@globex.test")
	waitFor(t, 10*time.Second, "healthy", func() bool { return r.Daemon.Health() == nil })
	waitFor(t, 10*time.Second, "the outbox empty", func() bool { return r.OutboxPending(t) == 0 })
	if n := len(mailTo(e.mailpit.Messages(t), "alice@acme.test")) + len(mailTo(e.mailpit.Messages(t), "bob@acme.test")); n != 2 {
		t.Errorf("the main account sent %d replies over two runs, want 2", n)
	}
}

// The staff loop and the SLA notices of a ticket opened on the eu account go
// out through it: a staff member answers the staff copy (its signed reply
// address is the eu account's, so the answer arrives in the eu mailbox) and
// the customer gets the relay from the eu address via the eu SMTP login; a
// ticket nobody answers gets its SLA warning the same way.
func TestAccountsStaffLoopAndSLANoticesThroughTheAccount(t *testing.T) {
	e, eu := newTwoAccounts(t)
	r := e.startAccountsWith(t, accountsYAML(t, e, eu, eu.dovecot.Password()),
		harness.Options{Engine: fastSLA(8*time.Second, 4*time.Second), Config: realClock})
	defer r.stop(t)

	to := "To: " + euUser
	eu.deliverAt(t, strings.Replace(msg("Gina <gina@globex.test>", "Portal login", "g1@globex.test", "Cannot log in. Build Number: 9653\n"),
		"To: support@vendor.test", to, 1), time.Now())
	sc := replyTo(t, eu.mailpit, queue)
	copy := eu.mailpit.Message(t, sc.ID)
	signed := strings.Trim(copy.Header("Reply-To"), "<> ")
	if i := strings.LastIndexByte(signed, '<'); i >= 0 {
		signed = strings.Trim(signed[i:], "<>")
	}
	if !strings.HasPrefix(signed, "help+") || !strings.HasSuffix(signed, "@vendor-eu.test") {
		t.Fatalf("staff copy Reply-To %q is not the eu account's signed address", signed)
	}
	eu.deliverAt(t, strings.Replace(staffReply("Erin Engineer <"+engineer+">", signed, copy, "s1@staff.vendor.test",
		"Hello Gina,\n\nplease reset your password from the login page.\n\nErin"), "To: support@vendor.test\n", "", 1), time.Now())
	var relay testenv.MailpitMessage
	waitFor(t, 20*time.Second, "the relayed staff reply", func() bool {
		for _, m := range mailTo(eu.mailpit.Messages(t), "gina@globex.test") {
			if d := eu.mailpit.Message(t, m.ID); d.Header("Auto-Submitted") == "" {
				relay = m
				return true
			}
		}
		return false
	})
	if relay.From == nil || relay.From.Address != euUser || relay.Username != "eu-smtp" {
		t.Errorf("relay: From %v via %q, want %s via eu-smtp", relay.From, relay.Username, euUser)
	}

	// A ticket nobody answers: its SLA warning goes out through the eu account.
	eu.deliverAt(t, strings.Replace(msg("Gus <gus@globex.test>", "Backup fails", "g2@globex.test", "Backup fails. Build Number: 9653\n"),
		"To: support@vendor.test", to, 1), time.Now())
	var warning testenv.MailpitMessage
	waitFor(t, 20*time.Second, "the SLA warning", func() bool {
		for _, m := range mailTo(eu.mailpit.Messages(t), queue) {
			if warnSubject.MatchString(m.Subject) {
				warning = m
				return true
			}
		}
		return false
	})
	if warning.From == nil || warning.From.Address != euUser || warning.Username != "eu-smtp" {
		t.Errorf("SLA warning: From %v via %q, want %s via eu-smtp", warning.From, warning.Username, euUser)
	}
	for _, m := range e.mailpit.Messages(t) {
		t.Errorf("the main account sent %q to %v for the eu account's tickets", m.Subject, m.To)
	}
}

// A store written by a single-mailbox configuration keeps its checkpoint
// when imap.mailboxes adds a folder: the implicit account's key is the
// folder name, as before, so INBOX is not read again and the new folder
// starts on its own.
func TestMailboxesAddedToAnExistingStore(t *testing.T) {
	e := newEnv(t)
	e.dovecot.CreateMailbox(t, "Partners")
	e.deliver(msg("Alice <alice@acme.test>", "Export fails", "a1@acme.test", "Export fails. Build Number: 9653\n"))
	r := e.start(runOpts{idle: true}) // imap.mailbox: INBOX, as before imap.mailboxes existed
	replyTo(t, e.mailpit, "alice@acme.test")
	waitFor(t, 10*time.Second, "the outbox empty", func() bool { return r.OutboxPending(t) == 0 })
	r.Stop(t)

	e.dovecot.AppendAt(t, "Partners", crlf(msg("Gina <gina@globex.test>", "Partner portal", "g1@globex.test", "Portal down.\n")), harness.Received)
	e.w.DBPath, e.w.Spool = e.dbPath, e.spool
	r2 := e.w.Start(harness.Options{Idle: true, Settings: func(c *config.Config) { c.IMAP.Mailboxes = []string{"INBOX", "Partners"} }})
	defer r2.Stop(t)
	replyTo(t, e.mailpit, "gina@globex.test")
	waitFor(t, 10*time.Second, "the outbox empty", func() bool { return r2.OutboxPending(t) == 0 })
	time.Sleep(time.Second) // a second reply to alice would be queued by now
	if n := len(mailTo(e.mailpit.Messages(t), "alice@acme.test")); n != 1 {
		t.Errorf("alice got %d replies across the change to imap.mailboxes, want 1", n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "first start on this mailbox: start point kept in the store\" mailbox=Partners") {
		t.Error("Partners was not started as a new mailbox")
	}
	// INBOX started once, in the first run: the second found its checkpoint
	// (a changed key would read it as new: "first start" again, its message
	// skipped as $SupportdProcessed instead of never fetched).
	if n := strings.Count(logs, "start point kept in the store\" mailbox=INBOX"); n != 1 {
		t.Errorf("INBOX had %d first starts across the change to imap.mailboxes, want 1", n)
	}
	if strings.Contains(logs, "status=already_processed") {
		t.Error("a message was fetched again and skipped as already processed: INBOX's checkpoint was lost")
	}
}
