package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"supportd/mailer"
	"supportd/poller"
	"supportd/store"
)

// Several mailboxes (docs/operations.md, "Several mailboxes and accounts").
// An account is one support address set with its own SMTP submission (the
// mailer) and sender; each of its IMAP folders is an inbox: its own poller
// (connection, IDLE, backoff) and its own store key, so checkpoints, start
// records and ledger entries never mix. Everything an incoming message causes
// goes out through the account it came in on (the outbox entry and the ticket
// remember the account's name); a failing inbox or account only logs and
// retries, the others go on.

// Account is one support account: the top-level imap/smtp sections (Name "")
// or one entry of accounts:.
type Account struct {
	Name string
	// FromName and FromAddr are the sender of its mail (its smtp.from).
	FromName, FromAddr string
	// Addresses are its support addresses; the first is the base of the
	// signed reply address of staff copies (support.addresses or
	// accounts[].addresses).
	Addresses []string
	Mailer    *mailer.Mailer
	// ConfigKey prefixes its configuration keys in messages: "" for the
	// top-level sections, "accounts[1]." for the second entry of accounts:.
	ConfigKey string
}

func (a *Account) from() mail.Address { return mail.Address{Name: a.FromName, Address: a.FromAddr} }

// display is the account's name in logs: "default" for the implicit account.
func (a *Account) display() string { return AccountLabel(a.Name) }

// AccountLabel is how logs and /healthz name an account: its name, "default"
// for the implicit one (the top-level imap/smtp sections).
func AccountLabel(name string) string {
	if name == "" {
		return "default"
	}
	return name
}

// MailboxKey is the store key (checkpoint, start record, ledger, raw copies)
// and the metrics label of folder of account: the folder itself for the
// implicit account (stores written before accounts existed keep their keys),
// "account/folder" for a named one (account names contain no "/").
func MailboxKey(account, folder string) string {
	if account == "" {
		return folder
	}
	return account + "/" + folder
}

// inbox is one folder of one account, read by its own poller. It is the
// poller's Handler: it hands the daemon the mailbox under its store key.
type inbox struct {
	d      *Daemon
	acct   *Account
	folder string
	key    string
	poll   *poller.Poller
}

func (in *inbox) Checkpoint(_ string, uv uint32) (uint32, error) { return in.d.Checkpoint(in.key, uv) }

func (in *inbox) Handle(ctx context.Context, mb poller.Mailbox, batch []poller.Fetched) ([]poller.Mark, error) {
	mb.Name = in.key
	return in.d.Handle(ctx, mb, batch)
}

func (in *inbox) Unmarked(_ string, uv uint32) ([]poller.Mark, error) {
	return in.d.Unmarked(in.key, uv)
}

func (in *inbox) Marked(_ string, uv uint32, uids []uint32) { in.d.Marked(in.key, uv, uids) }

func (in *inbox) Started(string) (bool, error) { return in.d.Started(in.key) }

func (in *inbox) Start(_ string, st poller.Start) error { return in.d.Start(in.key, st) }

// sentFolder is the Sent folder poller of an account (imap.sent_mailbox).
type sentFolder struct {
	acct *Account
	poll *poller.Poller
}

// AddAccount adds a further account (accounts: beyond the first). Call before Run.
func (d *Daemon) AddAccount(a Account) {
	acct := a
	if _, dup := d.accounts[a.Name]; !dup {
		d.accountList = append(d.accountList, &acct)
	}
	d.accounts[a.Name] = &acct
}

// AddInbox makes Run also read folder of account with p (its own connection).
func (d *Daemon) AddInbox(account, folder string, p *poller.Poller) error {
	a, ok := d.accounts[account]
	if !ok {
		return fmt.Errorf("inbox %s: no account %q", folder, account)
	}
	in := &inbox{d: d, acct: a, folder: folder, key: MailboxKey(account, folder), poll: p}
	d.inboxes = append(d.inboxes, in)
	if d.byKey == nil {
		d.byKey = map[string]*inbox{}
	}
	d.byKey[in.key] = in
	d.metrics.watchInbox(in.key, p)
	return nil
}

// WatchSentOf makes Run also read p, the Sent folder of account (sent.go).
func (d *Daemon) WatchSentOf(account string, p *poller.Poller) error {
	a, ok := d.accounts[account]
	if !ok {
		return fmt.Errorf("sent folder: no account %q", account)
	}
	d.sent = append(d.sent, sentFolder{acct: a, poll: p})
	return nil
}

// senderOf is the account mail for mailbox key goes out through: the
// inbox's account, the first account for a key no inbox reads (tests that
// call Handle directly).
func (d *Daemon) senderOf(key string) *Account {
	if in, ok := d.byKey[key]; ok {
		return in.acct
	}
	return d.accountList[0]
}

// account is the account named name; an unknown name (an entry queued
// before the account was removed from the configuration) is the first,
// said once per send round by the caller.
func (d *Daemon) account(name string) (*Account, bool) {
	if a, ok := d.accounts[name]; ok {
		return a, true
	}
	return d.accountList[0], false
}

// remark makes every inbox apply its unmarked marks again (a keyword added
// after the fact: Overdue).
func (d *Daemon) remark() {
	for _, in := range d.inboxes {
		in.poll.Remark()
	}
}

// Health is nil when every inbox is connected and every account's SMTP
// submission works; otherwise one line per failing inbox or account, naming
// it: one broken account makes /healthz unhealthy (an operator must hear of
// it) while the others keep working.
func (d *Daemon) Health() error {
	var errs []error
	named := len(d.accountList) > 1 || d.accountList[0].Name != ""
	folders := map[*Account]int{}
	for _, in := range d.inboxes {
		folders[in.acct]++
	}
	for _, in := range d.inboxes {
		what := "imap"
		if named {
			what = "account " + in.acct.display() + ": imap"
		}
		if folders[in.acct] > 1 {
			what += " " + in.folder
		}
		errs = append(errs, PollerHealth(what, in.poll))
	}
	for _, a := range d.accountList {
		what := "smtp"
		if named {
			what = "account " + a.display() + ": smtp"
		}
		errs = append(errs, MailerHealth(what, a.Mailer))
	}
	return errors.Join(errs...)
}

// PollerHealth is nil while p is connected, else why not (a refused login
// said as such); what names the mailbox.
func PollerHealth(what string, p *poller.Poller) error {
	st := p.Stats()
	if st.Connected {
		return nil
	}
	if ae := (*poller.AuthError)(nil); errors.As(st.LastError, &ae) {
		return fmt.Errorf("%s: authentication failed: %v", what, ae)
	}
	return fmt.Errorf("%s: not connected (last error: %v)", what, st.LastError)
}

// MailerHealth is nil unless the server refuses m's login or our sender
// (nil m: nil); what names the account.
func MailerHealth(what string, m *mailer.Mailer) error {
	if m == nil {
		return nil
	}
	var errs []error
	if _, err := m.AuthFailures(); err != nil {
		errs = append(errs, fmt.Errorf("%s: authentication failed: %v", what, err))
	}
	if err := m.ConfigFault(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", what, err))
	}
	return errors.Join(errs...)
}

// Inboxes lists the store keys of the mailboxes Run reads, in order.
func (d *Daemon) Inboxes() []string {
	keys := make([]string, len(d.inboxes))
	for i, in := range d.inboxes {
		keys[i] = in.key
	}
	return keys
}

// tagAccount sets the account of outbox entries composed for mail of a.
func tagAccount(a *Account, outs []*store.OutboxEntry) {
	for _, o := range outs {
		o.Account = a.Name
	}
}

// inboxCollector exposes the per-mailbox poller counters with a mailbox
// label: supportd_imap_reconnects_total (the metric's name is older than
// several mailboxes) and supportd_imap_connected.
type inboxCollector struct {
	reconnects, connected *prometheus.Desc
	inboxes               func() []*inboxStat
}

type inboxStat struct {
	key  string
	poll *poller.Poller
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.reconnects
	ch <- c.connected
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	for _, in := range c.inboxes() {
		st := in.poll.Stats()
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(st.Reconnects), in.key)
		up := 0.0
		if st.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, up, in.key)
	}
}

// mailboxLabel cleans a key for a label (never empty).
func mailboxLabel(key string) string {
	if strings.TrimSpace(key) == "" {
		return "INBOX"
	}
	return key
}
