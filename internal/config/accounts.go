package config

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	"supportd/poller"
)

// Several mailboxes and accounts (docs/operations.md, "Several mailboxes and
// accounts"): imap.mailboxes lists several folders of one account; accounts:
// lists several support accounts sharing the policy and the store, each with
// its own imap and smtp sections and its own support addresses. Without
// accounts: the top-level imap, smtp and support.addresses are the one
// (implicit) account.

// AccountConfig is one entry of accounts:. Its imap and smtp sections
// inherit every setting they leave out from the top-level sections, except
// the credentials (username, password, password_file, oauth2): each account
// logs in as itself.
type AccountConfig struct {
	Name      string     `mapstructure:"name"`
	IMAP      IMAPConfig `mapstructure:"imap"`
	SMTP      SMTPConfig `mapstructure:"smtp"`
	Addresses []string   `mapstructure:"addresses"`

	mailboxSet bool // imap.mailbox was given for this account (Load)
}

// Account is one account as supportd runs it: accounts[i], or the implicit
// one (Name "", the top-level sections) when accounts: is absent.
type Account struct {
	Name      string
	IMAP      IMAPConfig
	SMTP      SMTPConfig
	Addresses []string
	// Key is the prefix of its configuration keys: "" for the top-level
	// sections, "accounts[1]." for the second entry.
	Key string
}

// Accounts lists the accounts supportd reads and sends through, in order.
func (c Config) Accounts() []Account {
	if len(c.AccountList) == 0 {
		return []Account{{IMAP: c.IMAP, SMTP: c.SMTP, Addresses: c.Support.Addresses}}
	}
	out := make([]Account, len(c.AccountList))
	for i, a := range c.AccountList {
		out[i] = Account{Name: a.Name, IMAP: a.IMAP, SMTP: a.SMTP, Addresses: a.Addresses, Key: fmt.Sprintf("accounts[%d].", i)}
	}
	return out
}

// Folders are the folders of the account read for support mail:
// imap.mailboxes, else imap.mailbox.
func (ic IMAPConfig) Folders() []string {
	if len(ic.Mailboxes) > 0 {
		return ic.Mailboxes
	}
	return []string{ic.Mailbox}
}

// ownAddresses are all our support addresses: support.addresses and every
// account's addresses (never auto-replied to).
func (c Config) ownAddresses() []string {
	own := append([]string{}, c.Support.Addresses...)
	for _, a := range c.AccountList {
		for _, addr := range a.Addresses {
			if !containsFold(own, addr) {
				own = append(own, addr)
			}
		}
	}
	return own
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), strings.TrimSpace(s)) {
			return true
		}
	}
	return false
}

// sameFolder: IMAP folder names are case-sensitive, except INBOX (RFC 3501).
func sameFolder(a, b string) bool {
	return a == b || strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX")
}

// decodeAccounts reads accounts: from the raw list: each entry starts from
// the top-level imap and smtp sections without their credentials, and what
// the entry gives overrides them.
func decodeAccounts(raw any, top Config, hook mapstructure.DecodeHookFunc) ([]AccountConfig, error) {
	var list []any
	switch r := raw.(type) {
	case nil:
	case []any:
		list = r
	case []map[string]any:
		for _, m := range r {
			list = append(list, m)
		}
	default:
		return nil, errors.New("accounts: must be a list of {name, imap, smtp, addresses}")
	}
	if len(list) == 0 {
		return nil, nil
	}
	imapBase, smtpBase := top.IMAP, top.SMTP
	imapBase.Username, imapBase.Password, imapBase.PasswordFile, imapBase.OAuth2 = "", "", "", OAuth2Config{}
	smtpBase.Username, smtpBase.Password, smtpBase.PasswordFile, smtpBase.OAuth2 = "", "", "", OAuth2Config{}
	imapBase.Mailboxes = nil
	out := make([]AccountConfig, len(list))
	var errs []error
	for i, e := range list {
		key := fmt.Sprintf("accounts[%d]", i)
		m, ok := e.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: must be a map {name, imap, smtp, addresses}", key))
			continue
		}
		a := AccountConfig{IMAP: imapBase, SMTP: smtpBase}
		if im, ok := m["imap"].(map[string]any); ok {
			_, a.mailboxSet = im["mailbox"]
		}
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{Result: &a, DecodeHook: hook, ErrorUnused: true, WeaklyTypedInput: true})
		if err == nil {
			err = dec.Decode(m)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s", strings.ReplaceAll(cleanDecodeError(err), "unknown key ", "unknown key "+key+".")))
			continue
		}
		out[i] = a
	}
	return out, errors.Join(errs...)
}

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// validateAccounts checks accounts: (names, addresses, each imap and smtp
// section); every error names the full key (accounts[1].imap.address).
func (c Config) validateAccounts() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	names := map[string]int{}
	owner := map[string]int{}
	for i, a := range c.AccountList {
		key := fmt.Sprintf("accounts[%d]", i)
		switch j, dup := names[strings.ToLower(a.Name)]; {
		case !accountNameRE.MatchString(a.Name):
			bad(key+".name", "%q: a name of letters, digits, '.', '_' or '-' is needed (it keys the account's checkpoints and labels its logs and metrics)", a.Name)
		case dup:
			bad(key+".name", "%q is also accounts[%d].name", a.Name, j)
		default:
			names[strings.ToLower(a.Name)] = i
		}
		if len(a.Addresses) == 0 {
			bad(key+".addresses", "at least one support address of the account is needed")
		}
		for k, addr := range a.Addresses {
			akey := fmt.Sprintf("%s.addresses[%d]", key, k)
			if !looksLikeAddr(addr) {
				bad(akey, "%q is not an email address", addr)
				continue
			}
			if j, dup := owner[strings.ToLower(addr)]; dup && j != i {
				bad(akey, "%q is also an address of accounts[%d]: replies would go out through either", addr, j)
			}
			owner[strings.ToLower(addr)] = i
			if c.Support.StaffQueue != "" && strings.EqualFold(addr, c.Support.StaffQueue) {
				bad("support.staff_queue", "%q is one of %s.addresses: staff copies would come back into the support inbox", c.Support.StaffQueue, key)
			}
		}
		errs = append(errs, validateIMAP(key+".imap", a.IMAP, a.mailboxSet, c.Support.Timezone)...)
		errs = append(errs, validateSMTP(key+".smtp", a.SMTP)...)
	}
	return errs
}

// validateIMAP checks one imap section; section is its key ("imap",
// "accounts[1].imap"). mailboxSet: imap.mailbox was given, so it must agree
// with imap.mailboxes.
func validateIMAP(section string, ic IMAPConfig, mailboxSet bool, tz string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", section, key, fmt.Sprintf(format, args...)))
	}
	errs = append(errs, validateEndpoint(section, ic.Address, ic.TLS)...)
	if ic.Password != "" && ic.PasswordFile != "" {
		bad("password_file", "set either %s.password or %s.password_file, not both", section, section)
	}
	if ic.PollInterval < time.Second {
		bad("poll_interval", "must be at least 1s")
	}
	if ic.Watchdog < time.Second || ic.Watchdog > 5*time.Minute {
		bad("watchdog_interval", "must be between 1s and 5m")
	}
	if ic.IdleRestart < time.Minute || ic.IdleRestart > 29*time.Minute {
		bad("idle_restart", "must be between 1m and 29m (RFC 2177)")
	}
	if ic.BatchBytes <= 0 {
		bad("batch_bytes", "must be positive")
	}
	if len(ic.Mailboxes) == 0 && ic.Mailbox == "" {
		bad("mailbox", "must be set")
	}
	for i, f := range ic.Mailboxes {
		switch {
		case strings.TrimSpace(f) == "" || strings.ContainsAny(f, "\r\n\x00"):
			bad(fmt.Sprintf("mailboxes[%d]", i), "%q is not a folder name", f)
		case i > 0 && containsFolder(ic.Mailboxes[:i], f):
			bad(fmt.Sprintf("mailboxes[%d]", i), "%q is listed twice", f)
		}
	}
	if len(ic.Mailboxes) > 0 && mailboxSet && !containsFolder(ic.Mailboxes, ic.Mailbox) {
		bad("mailbox", "%q is not one of %s.mailboxes %q: set one of the two (%s.mailboxes replaces %s.mailbox)", ic.Mailbox, section, ic.Mailboxes, section, section)
	}
	switch sent := ic.SentMailbox; {
	case strings.HasPrefix(sent, `\`) && !strings.EqualFold(sent, SentSpecialUse):
		bad("sent_mailbox", "%q: the special-use attribute is %s (RFC 6154); otherwise name the folder", sent, SentSpecialUse)
	case sent != "" && containsFolder(ic.Folders(), sent):
		bad("sent_mailbox", "%q is a folder read for support mail (%s.mailbox or mailboxes): the Sent folder is another folder (\"\" watches none)", sent, section)
	case strings.ContainsAny(sent, "\r\n\x00"):
		bad("sent_mailbox", "%q is not a folder name", sent)
	}
	if _, err := startAtOf(section, ic.StartAt, tz); err != nil {
		errs = append(errs, err)
	}
	if v := ic.TLSServerName; strings.ContainsAny(v, " \t\r\n<>[]@") || strings.HasPrefix(v, ".") {
		bad("tls_server_name", "%q is not a host name", v)
	}
	if ic.Username == "" {
		bad("username", "must be set (the mailbox account)")
	}
	return errs
}

func containsFolder(list []string, f string) bool {
	for _, x := range list {
		if sameFolder(x, f) {
			return true
		}
	}
	return false
}

// validateSMTP checks one smtp section; section is its key ("smtp",
// "accounts[1].smtp").
func validateSMTP(section string, sc SMTPConfig) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", section, key, fmt.Sprintf(format, args...)))
	}
	errs = append(errs, validateEndpoint(section, sc.Address, sc.TLS)...)
	if sc.Password != "" && sc.PasswordFile != "" {
		bad("password_file", "set either %s.password or %s.password_file, not both", section, section)
	}
	for key, v := range map[string]string{"helo_name": sc.HeloName, "tls_server_name": sc.TLSServerName} {
		if strings.ContainsAny(v, " \t\r\n<>[]@") || strings.HasPrefix(v, ".") {
			bad(key, "%q is not a host name", v)
		}
	}
	if sc.From == "" {
		bad("from", "must be set")
	} else if a, err := mail.ParseAddress(sc.From); err != nil || !looksLikeAddr(a.Address) {
		bad("from", "%q is not an address (Support <support@vendor.test>)", sc.From)
	}
	return errs
}

// startAtOf reads an imap.start_at value (section names its key), a date
// being midnight in the time zone tz.
func startAtOf(section, v, tz string) (poller.StartAt, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC // support.timezone reports its own error
	}
	s, err := poller.ParseStartAt(v, loc)
	if err != nil {
		return s, fmt.Errorf("%s.start_at (--start-at): %w", section, err)
	}
	return s, nil
}
