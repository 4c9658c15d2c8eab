package config

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func loadYAML(t *testing.T, y string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "supportd.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := Load(p, nil, nil)
	return c, err
}

// A valid two-account configuration, as an operator writes it.
const twoAccounts = `imap: {poll_interval: 45s}
accounts:
  - name: main
    addresses: [support@vendor.test]
    imap: {username: support@vendor.test, password: a, mailboxes: [INBOX, Partners]}
    smtp: {username: support@vendor.test, password: b}
  - name: eu
    addresses: [help@vendor-eu.test]
    imap: {address: "mail.vendor-eu.test:993", username: help@vendor-eu.test, password: c, sent_mailbox: Gesendet}
    smtp: {address: "mail.vendor-eu.test:587", username: help@vendor-eu.test, password: d, from: "EU Support <help@vendor-eu.test>"}
`

func TestAccountsInheritTopLevelButNotCredentials(t *testing.T) {
	c, err := loadYAML(t, "imap: {password: top-secret}\nsmtp: {username: top-user}\n"+strings.TrimPrefix(twoAccounts, "imap: {poll_interval: 45s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := loadYAML(t, twoAccounts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Validate(); err != nil {
		t.Fatalf("two accounts: %v", err)
	}
	accts := c2.Accounts()
	if len(accts) != 2 || accts[0].Name != "main" || accts[1].Key != "accounts[1]." {
		t.Fatalf("Accounts() = %+v", accts)
	}
	eu := accts[1]
	if eu.IMAP.PollInterval != 45*time.Second || eu.IMAP.BatchSize != Default().IMAP.BatchSize || eu.SMTP.Timeout != Default().SMTP.Timeout {
		t.Errorf("eu: poll_interval %v, batch_size %d, smtp.timeout %v: not inherited", eu.IMAP.PollInterval, eu.IMAP.BatchSize, eu.SMTP.Timeout)
	}
	if eu.IMAP.SentMailbox != "Gesendet" || accts[0].IMAP.SentMailbox != SentSpecialUse {
		t.Errorf("sent_mailbox: eu %q, main %q", eu.IMAP.SentMailbox, accts[0].IMAP.SentMailbox)
	}
	if got := accts[0].IMAP.Folders(); strings.Join(got, ",") != "INBOX,Partners" {
		t.Errorf("main folders %v", got)
	}
	if got := eu.IMAP.Folders(); strings.Join(got, ",") != "INBOX" {
		t.Errorf("eu folders %v (imap.mailboxes must not be inherited from another account)", got)
	}
	// Credentials are never inherited: an account without its own fails
	// validation instead of logging in with another's password.
	for _, a := range c.AccountList {
		if a.IMAP.Password == "top-secret" || a.SMTP.Username == "top-user" {
			t.Errorf("account %s inherited a top-level credential", a.Name)
		}
	}
	if own := c2.TriageConfig().OwnAddresses; !strings.Contains(strings.Join(own, ","), "help@vendor-eu.test") {
		t.Errorf("own addresses %v lack the eu account's", own)
	}
	// Endpoints per account: the eu account's keys and server.
	_, eps, err := c2.prepare(context.Background())
	if err != nil || len(eps) != 2 || eps[1].pc.Address != "mail.vendor-eu.test:993" || eps[1].mc.Username != "help@vendor-eu.test" {
		t.Fatalf("prepare: %v, %+v", err, eps)
	}
	if eps[1].pc.AuthKey != "accounts[1].imap.password" || eps[1].mc.AuthKey != "accounts[1].smtp.password" {
		t.Errorf("auth keys %q, %q", eps[1].pc.AuthKey, eps[1].mc.AuthKey)
	}
}

func TestAccountsAndMailboxesValidationNamesKeys(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"duplicate folder", "imap: {mailboxes: [INBOX, Partners, inbox]}\n", "imap.mailboxes[2]: \"inbox\" is listed twice"},
		{"mailbox not in mailboxes", "imap: {mailbox: Support, mailboxes: [INBOX, Partners]}\n", "imap.mailbox: \"Support\" is not one of imap.mailboxes"},
		{"empty folder", "imap: {mailboxes: [INBOX, \"\"]}\n", "imap.mailboxes[1]"},
		{"sent is read", "imap: {mailboxes: [INBOX, Sent], sent_mailbox: Sent}\n", "imap.sent_mailbox"},
		{"account address", strings.Replace(twoAccounts, "imap: {address: \"mail.vendor-eu.test:993\"", "imap: {address: \"mail.vendor-eu.test\"", 1), "accounts[1].imap.address"},
		{"account no name", strings.Replace(twoAccounts, "name: eu", "name: \"\"", 1), "accounts[1].name"},
		{"account name twice", strings.Replace(twoAccounts, "name: eu", "name: MAIN", 1), "accounts[1].name: \"MAIN\" is also accounts[0].name"},
		{"account no addresses", strings.Replace(twoAccounts, "addresses: [help@vendor-eu.test]", "addresses: []", 1), "accounts[1].addresses"},
		{"address shared", strings.Replace(twoAccounts, "addresses: [help@vendor-eu.test]", "addresses: [Support@vendor.test]", 1), "accounts[1].addresses[0]"},
		{"account username", strings.Replace(twoAccounts, "username: help@vendor-eu.test, password: c", "password: c", 1), "accounts[1].imap.username: must be set"},
		{"account from", strings.Replace(twoAccounts, `from: "EU Support <help@vendor-eu.test>"`, `from: "nobody"`, 1), "accounts[1].smtp.from"},
		{"account folders", strings.Replace(twoAccounts, "mailboxes: [INBOX, Partners]", "mailboxes: [Partners, Partners]", 1), "accounts[0].imap.mailboxes[1]"},
		{"account both passwords", strings.Replace(twoAccounts, "password: d", "password: d, password_file: /x", 1), "accounts[1].smtp.password_file"},
		{"account tls none remote", strings.Replace(twoAccounts, "password: c,", "password: c, tls: none,", 1), "accounts[1].imap.tls: none is accepted only for loopback"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadYAML(t, tc.yaml)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
	// Plain text to a loopback server is accepted, and said.
	c, err := loadYAML(t, strings.Replace(twoAccounts, `address: "mail.vendor-eu.test:993",`, `address: "127.0.0.1:1143", tls: none,`, 1))
	if err != nil || c.Validate() != nil || !strings.Contains(strings.Join(c.Warnings(), "\n"), "accounts[1].imap.tls: none") {
		t.Errorf("accounts[1].imap.tls none on loopback: %v, %v, warnings %q", err, c.Validate(), c.Warnings())
	}
	// A folder read for support mail that supportd also moves mail into is said.
	c, err = loadYAML(t, "imap: {mailboxes: [INBOX, Quarantine]}\n")
	if err != nil || c.Validate() != nil || !strings.Contains(strings.Join(c.Warnings(), "\n"), `imap.mailboxes: "Quarantine" is also where supportd moves`) {
		t.Errorf("quarantine folder read: %v, warnings %q", err, c.Warnings())
	}
	// An unknown key inside an account is named in full.
	if _, err := loadYAML(t, strings.Replace(twoAccounts, "password: c,", "pasword: c,", 1)); err == nil || !strings.Contains(err.Error(), "unknown key accounts[1].imap.pasword") {
		t.Errorf("unknown account key: %v", err)
	}
	// imap.mailbox that is one of imap.mailboxes is consistent.
	c, err = loadYAML(t, "imap: {mailbox: Partners, mailboxes: [INBOX, Partners]}\n")
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		t.Errorf("mailbox within mailboxes: %v", err)
	}
}

// The commented accounts: example of config.example.yaml, uncommented, is a
// valid configuration (secrets files aside).
func TestExampleAccountsBlockLoads(t *testing.T) {
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(raw), "# accounts:\n")
	if start < 0 {
		t.Fatal("config.example.yaml shows no accounts: example")
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(string(raw[start:]), "\n") {
		if !strings.HasPrefix(l, "#") {
			break
		}
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	c, err := loadYAML(t, b.String())
	if err != nil {
		t.Fatalf("the accounts: example does not load: %v\n%s", err, b.String())
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("the accounts: example is invalid: %v", err)
	}
	if len(c.AccountList) != 2 || len(c.AccountList[0].IMAP.Folders()) != 2 {
		t.Fatalf("the example's accounts: %+v", c.AccountList)
	}
	if regexp.MustCompile(`password: `).MatchString(b.String()) {
		t.Error("the example puts a password inline; show password_file")
	}
}

// --start-at on the command line is the operator's choice for this start: it
// beats an account's own imap.start_at, which otherwise stays its own.
func TestStartAtFlagAppliesToEveryAccount(t *testing.T) {
	y := strings.Replace(twoAccounts, "sent_mailbox: Gesendet}", "sent_mailbox: Gesendet, start_at: all}", 1)
	p := filepath.Join(t.TempDir(), "supportd.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) []Account {
		t.Helper()
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		fs.String("start-at", "", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, _, err := Load(p, fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		return c.Accounts()
	}
	if a := load(); a[0].IMAP.StartAt != "" || a[1].IMAP.StartAt != "all" {
		t.Errorf("without the flag: start_at %q and %q, want \"\" and all (the eu account's own)", a[0].IMAP.StartAt, a[1].IMAP.StartAt)
	}
	if a := load("--start-at", "now"); a[0].IMAP.StartAt != "now" || a[1].IMAP.StartAt != "now" {
		t.Errorf("--start-at now: start_at %q and %q, want now for both", a[0].IMAP.StartAt, a[1].IMAP.StartAt)
	}
}

// A duration that does not parse is quoted with its key and the form to use;
// a bare number (nanoseconds, to the decoder) is refused unless it is 0.
func TestDurationErrorsQuoteTheValue(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"sla: {in_hours: 2 hours}\n", `sla.in_hours: "2 hours" is not a duration: write it like 90s`},
		{"store: {raw_retention: 90d}\n", `store.raw_retention: "90d" is not a duration`},
		{"imap: {poll_interval: 30}\n", "imap.poll_interval: 30 has no unit: write it like 30s"},
	} {
		if _, err := loadYAML(t, tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	c, err := loadYAML(t, "sla: {warn_before: 0, in_hours: 90m}\n")
	if err != nil || c.SLA.WarnBefore != 0 || c.SLA.InHours != 90*time.Minute {
		t.Errorf("0 and 90m: %v, warn_before %v, in_hours %v", err, c.SLA.WarnBefore, c.SLA.InHours)
	}
}
