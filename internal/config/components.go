package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"golang.org/x/oauth2"

	"supportd/daemon"
	"supportd/internal/loopback"
	"supportd/mailer"
	"supportd/poller"
	"supportd/sla"
	"supportd/store"
	"supportd/templates"
)

// This file is the one wiring path from a loaded Config to the running
// components: `supportd run`, `demo`, `explain`, the test harness and the bench
// tool all assemble through Engine and Build, so a setting read here reaches
// every one of them.

// Engine builds the decision engine of the configuration (it validates first).
func (c Config) Engine() (*daemon.Engine, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("configuration is invalid:\n%w", err)
	}
	return c.engine()
}

func (c Config) engine() (*daemon.Engine, error) {
	sc, _ := c.SLAConfig()
	cal, err := sla.New(sc)
	if err != nil {
		return nil, err
	}
	majors, _ := c.Majors()
	r, err := templates.New(c.Templates.Dir)
	if err != nil {
		return nil, fmt.Errorf("templates.dir: %w", err)
	}
	fromName, fromAddr := fromOf(c.Accounts()[0].SMTP)
	return &daemon.Engine{
		Policy:         c.Policy(),
		Calendar:       cal,
		Majors:         majors,
		Triage:         c.TriageConfig(),
		Renderer:       r,
		FromName:       fromName,
		FromAddr:       fromAddr,
		SupportHours:   SupportHoursText(c.Support.Hours, c.Support.Timezone),
		PhoneNumber:    c.Support.Phone.Number,
		PhoneHours:     SupportHoursText(c.Support.Phone.Hours, c.Support.Timezone),
		Company:        c.Support.Company,
		Product:        c.Support.Product,
		Signature:      strings.TrimSpace(c.Support.Signature),
		Staff:          c.Support.Staff,
		TicketIDFormat: c.Tickets.IDFormat,
		ReopenDays:     c.Tickets.ReopenDays,
		WarnBefore:     c.SLA.WarnBefore,
	}, nil
}

// Options adjust what Build assembles; the zero value is what `supportd run` uses.
type Options struct {
	// Logger receives the components' logs (default: discarded).
	Logger *slog.Logger
	// Store is an already open store to use instead of opening store.path;
	// the caller keeps closing it.
	Store *store.DB
	// SpoolDir is the poller's spool (default: .supportd-spool beside store.path,
	// created when missing).
	SpoolDir string
	// Engine, Poller, Mailer and Daemon, when set, adjust a component's settings
	// after they are derived from the configuration: tests and the bench tool set
	// their tunables (backoffs, dialers, clocks) here; in production only run
	// sets the daemon's service-manager hooks (Notify, watchdog) here.
	Engine func(*daemon.Engine)
	Poller func(*poller.Config)
	Mailer func(*mailer.Config)
	Daemon func(*daemon.Config)
	// Sent adjusts the Sent folder's poller (imap.sent_mailbox), derived from
	// the configuration like the inbox's but not by the Poller hook.
	Sent func(*poller.Config)
}

// Components are the running parts of supportd, built by Build. Run the daemon
// with Daemon.Run; Close releases the mailers and, when Build opened it, the store.
// Poller, Sent and Mailer are the first account's (its first folder's
// poller); Pollers and Mailers hold every one.
type Components struct {
	Engine  *daemon.Engine
	Store   *store.DB
	Poller  *poller.Poller
	Sent    *poller.Poller // the Sent folder's (imap.sent_mailbox), nil when it is ""
	Mailer  *mailer.Mailer
	Daemon  *daemon.Daemon
	Metrics *daemon.Metrics
	// Pollers are the pollers of every folder of every account, in order
	// (accounts, then imap.mailboxes); Mailers one per account.
	Pollers []*poller.Poller
	Mailers []*mailer.Mailer

	ownStore bool
}

// Close closes the mailers and the store if Build opened it.
func (k *Components) Close() error {
	for _, m := range k.Mailers {
		m.Close()
	}
	if k.ownStore {
		return k.Store.Close()
	}
	return nil
}

// fromOf is the sender name and address of an smtp section's from.
func fromOf(sc SMTPConfig) (name, addr string) {
	if a, err := mail.ParseAddress(sc.From); err == nil {
		return a.Name, a.Address
	}
	return "", sc.From
}

// SMTPTimeouts derives the mailer's timeouts from smtp.timeout: it bounds the
// DATA phase (writing a message and waiting for the final reply); connecting and
// every other command get a quarter of it (30s for the default 2m).
func (c Config) SMTPTimeouts() (dial, command, data time.Duration) { return c.SMTP.timeouts() }

func (sc SMTPConfig) timeouts() (dial, command, data time.Duration) {
	return sc.Timeout / 4, sc.Timeout / 4, sc.Timeout
}

// Check runs every check Build makes before it opens or connects anything:
// Validate, the templates (every override parsed and rendered with sample data),
// the secret and CA files. `config check` is exactly this.
func (c Config) Check(ctx context.Context) error {
	_, _, err := c.prepare(ctx)
	return err
}

func (c Config) prepare(ctx context.Context) (*daemon.Engine, []endpoints, error) {
	var eng *daemon.Engine
	err := c.Validate()
	valid := err == nil
	if valid {
		eng, err = c.engine()
	}
	var eps []endpoints
	for _, a := range c.Accounts() {
		pc, mc, eerr := c.endpointsOf(ctx, a)
		if eerr == nil && valid {
			// What poller.New and mailer.New would refuse, run refuses: so
			// does config check (after Validate, which says most of it in
			// the configuration's own words, so nothing is said twice).
			if perr := pc.Validate(); perr != nil {
				eerr = fmt.Errorf("%simap: %w", a.Key, perr)
			}
			if merr := mc.Validate(); merr != nil {
				eerr = errors.Join(eerr, fmt.Errorf("%ssmtp: %w", a.Key, merr))
			}
		}
		err = errors.Join(err, eerr)
		eps = append(eps, endpoints{acct: a, pc: pc, mc: mc})
	}
	if err != nil {
		return nil, eps, fmt.Errorf("configuration is invalid:\n%w", err)
	}
	return eng, eps, nil
}

// endpoints are the poller and mailer settings of one account.
type endpoints struct {
	acct Account
	pc   poller.Config
	mc   mailer.Config
}

// Build checks the configuration (Check), reads its secrets and assembles the
// engine, store, poller, mailer, metrics and daemon. Nothing connects until
// Daemon.Run.
func (c Config) Build(ctx context.Context, o Options) (k *Components, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	eng, eps, err := c.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if o.Engine != nil {
		o.Engine(eng)
	}
	spool := o.SpoolDir
	if spool == "" {
		spool = filepath.Join(filepath.Dir(c.Store.Path), ".supportd-spool")
	}
	if err := store.PrivateDir(spool); err != nil {
		return nil, fmt.Errorf("spool directory: %w", err)
	}
	built := &Components{Engine: eng, Store: o.Store}
	k = built
	defer func() {
		if err != nil { // k is nil then
			for _, m := range built.Mailers {
				m.Close()
			}
			if built.ownStore {
				built.Store.Close()
			}
		}
	}()
	// Every account: its mailer; every folder of it: a poller of its own
	// (connection, IDLE, backoff, spool: UIDs of different folders collide);
	// its Sent folder's poller.
	type inbox struct {
		acct, folder string
		p            *poller.Poller
	}
	var inboxes []inbox
	var sents []inbox
	for _, ep := range eps {
		label := daemon.AccountLabel(ep.acct.Name)
		mc := ep.mc
		mc.Logger = log.With("component", "smtp", "account", label)
		if o.Mailer != nil {
			o.Mailer(&mc)
		}
		m, err := mailer.New(mc)
		if err != nil {
			return nil, fmt.Errorf("%ssmtp: %w", ep.acct.Key, err)
		}
		k.Mailers = append(k.Mailers, m)
		for _, folder := range ep.acct.IMAP.Folders() {
			key := daemon.MailboxKey(ep.acct.Name, folder)
			pc := ep.pc
			pc.Mailbox = folder
			if pc.SpoolDir, err = spoolFor(spool, len(inboxes), ""); err != nil {
				return nil, err
			}
			pc.Logger = log.With("component", "imap", "account", label, "mailbox", key)
			if o.Poller != nil {
				o.Poller(&pc)
			}
			p, err := poller.New(pc)
			if err != nil {
				return nil, fmt.Errorf("%simap (%s): %w", ep.acct.Key, folder, err)
			}
			inboxes = append(inboxes, inbox{ep.acct.Name, folder, p})
			k.Pollers = append(k.Pollers, p)
		}
		if spc, ok := sentPoller(ep.acct.IMAP, ep.pc, log.With("account", label)); ok {
			if spc.SpoolDir, err = spoolFor(spool, len(sents), "sent-"); err != nil {
				return nil, err
			}
			if o.Sent != nil {
				o.Sent(&spc)
			}
			sp, err := poller.New(spc)
			if err != nil {
				return nil, fmt.Errorf("%simap.sent_mailbox: %w", ep.acct.Key, err)
			}
			sents = append(sents, inbox{acct: ep.acct.Name, p: sp})
		}
	}
	k.Poller, k.Mailer = inboxes[0].p, k.Mailers[0]
	if len(sents) > 0 && sents[0].acct == eps[0].acct.Name {
		k.Sent = sents[0].p
	}
	if k.Store == nil {
		k.Store, err = store.Open(c.Store.Path, &store.Options{Timeout: c.Store.LockTimeout, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("store.path %s: %w", c.Store.Path, err)
		}
		k.ownStore = true
	}
	parser, err := c.Parser()
	if err != nil {
		return nil, err
	}
	dc := daemon.Config{
		Account: eps[0].acct.Name, Mailbox: inboxes[0].folder, Parser: parser, MaxAttempts: c.Limits.MaxAttempts,
		QuarantineFolder: c.Limits.QuarantineFolder, StaffQueue: c.Support.StaffQueue, EscalationAddress: c.Support.EscalationAddress,
		RawRetention: c.Store.RawRetention, StaffCopyMaxBytes: int64(c.Limits.StaffCopyMaxBytes),
		ReplyNameFromStaff: c.Support.ReplyNameFromStaff,
	}
	if o.Daemon != nil {
		o.Daemon(&dc)
	}
	k.Metrics = daemon.NewMetrics(nil)
	k.Metrics.WatchAuthFailures("imap", func() float64 { // every account's logins, the Sent folders' too
		n := 0
		for _, p := range k.Pollers {
			n += p.Stats().AuthFailures
		}
		for _, s := range sents {
			n += s.p.Stats().AuthFailures
		}
		return float64(n)
	})
	k.Metrics.WatchAuthFailures("smtp", func() float64 {
		var n int64
		for _, m := range k.Mailers {
			f, _ := m.AuthFailures()
			n += int64(f)
		}
		return float64(n)
	})
	dc.AccountKey = eps[0].acct.Key
	k.Daemon = daemon.New(dc, eng, k.Store, inboxes[0].p, k.Mailer, log, k.Metrics)
	for i, ep := range eps[1:] {
		name, addr := fromOf(ep.acct.SMTP)
		k.Daemon.AddAccount(daemon.Account{Name: ep.acct.Name, FromName: name, FromAddr: addr, Addresses: ep.acct.Addresses, Mailer: k.Mailers[i+1],
			ConfigKey: ep.acct.Key})
	}
	for _, in := range inboxes[1:] {
		if err := k.Daemon.AddInbox(in.acct, in.folder, in.p); err != nil {
			return nil, err
		}
	}
	for _, s := range sents {
		if err := k.Daemon.WatchSentOf(s.acct, s.p); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// spoolFor is the spool directory of the n-th poller (prefix "": the
// inboxes, "sent-": the Sent folders): the first shares spool, as a single
// mailbox always did; the others get a sibling each (spool-1, spool-sent-1),
// since UIDs of different mailboxes collide in spool file names.
func spoolFor(spool string, n int, prefix string) (string, error) {
	if n == 0 {
		return spool, nil
	}
	dir := spool + "-" + prefix + strconv.Itoa(n)
	if err := store.PrivateDir(dir); err != nil {
		return "", fmt.Errorf("spool directory: %w", err)
	}
	return dir, nil
}

// sentPoller derives the Sent folder's poller of an account (ic) from its
// inbox's (pc, before any hook): the same server and account on a connection of its own,
// read-only, starting at UIDNEXT (sent mail already there is history). ok is
// false when imap.sent_mailbox is "".
func sentPoller(ic IMAPConfig, pc poller.Config, log *slog.Logger) (spc poller.Config, ok bool) {
	spc = pc
	switch {
	case ic.SentMailbox == "":
		return spc, false
	case strings.EqualFold(ic.SentMailbox, SentSpecialUse):
		spc.Mailbox, spc.SpecialUse = "", imap.MailboxAttrSent
	default:
		spc.Mailbox = ic.SentMailbox
	}
	spc.ReadOnly = true
	spc.StartAt = poller.StartAt{Mode: poller.StartNow}
	spc.Logger = log.With("component", "imap-sent")
	return spc, true
}

// Endpoints derives the poller and mailer settings (secrets read, TLS set up)
// of the first account; Build completes them with the spool, logger and hooks.
func (c Config) Endpoints(ctx context.Context) (poller.Config, mailer.Config, error) {
	return c.endpointsOf(ctx, c.Accounts()[0])
}

// endpointsOf derives the poller (of its first folder) and mailer settings
// of account a; errors name its keys (accounts[1].imap.password_file).
func (c Config) endpointsOf(ctx context.Context, a Account) (poller.Config, mailer.Config, error) {
	var pc poller.Config
	var mc mailer.Config
	isec, ssec := a.Key+"imap", a.Key+"smtp"
	imapPass, err := readSecret(isec+".password_file", a.IMAP.Password, a.IMAP.PasswordFile)
	if err != nil {
		return pc, mc, err
	}
	smtpPass, err := readSecret(ssec+".password_file", a.SMTP.Password, a.SMTP.PasswordFile)
	if err != nil {
		return pc, mc, err
	}
	imapTS, err := tokenSource(ctx, isec+".oauth2", a.IMAP.OAuth2)
	if err != nil {
		return pc, mc, err
	}
	smtpTS, err := tokenSource(ctx, ssec+".oauth2", a.SMTP.OAuth2)
	if err != nil {
		return pc, mc, err
	}
	imapTLS, err := tlsConfig(isec, a.IMAP.CAFile, a.IMAP.TLSServerName, a.IMAP.Address)
	if err != nil {
		return pc, mc, err
	}
	smtpTLS, err := tlsConfig(ssec, a.SMTP.CAFile, a.SMTP.TLSServerName, a.SMTP.Address)
	if err != nil {
		return pc, mc, err
	}
	pc = poller.Config{
		Address: a.IMAP.Address, TLS: a.IMAP.TLS, TLSConfig: imapTLS,
		Username: a.IMAP.Username, Password: imapPass, TokenSource: imapTS,
		Mailbox: a.IMAP.Folders()[0], Idle: a.IMAP.Idle, PollInterval: a.IMAP.PollInterval,
		BatchSize: a.IMAP.BatchSize, BatchBytes: int64(a.IMAP.BatchBytes), MaxMessageBytes: int64(c.Limits.MaxMessageBytes),
		WatchdogInterval: a.IMAP.Watchdog, IdleRestart: a.IMAP.IdleRestart,
	}
	if pc.StartAt, err = startAtOf(isec, a.IMAP.StartAt, c.Support.Timezone); err != nil {
		return pc, mc, err
	}
	pc.PasswordFunc, pc.AuthKey = rotating(isec, a.IMAP.PasswordFile, imapPass, a.IMAP.OAuth2)
	dial, command, data := a.SMTP.timeouts()
	mc = mailer.Config{
		Address: a.SMTP.Address, TLS: a.SMTP.TLS, TLSConfig: smtpTLS,
		Username: a.SMTP.Username, Password: smtpPass, TokenSource: smtpTS,
		MaxConns: a.SMTP.MaxConns, DialTimeout: dial, CommandTimeout: command, DataTimeout: data,
		HeloName: a.SMTP.HeloName,
	}
	mc.PasswordFunc, mc.AuthKey = rotating(ssec, a.SMTP.PasswordFile, smtpPass, a.SMTP.OAuth2)
	return pc, mc, nil
}

// rotating returns how a section's password is read before each login (a
// password_file again each time, so rotating it needs no restart; the
// password read at start while the file cannot be read) and the key that
// names the credential when the server refuses it.
func rotating(section, file, first string, o OAuth2Config) (func() string, string) {
	key := section + ".password"
	switch {
	case o.enabled():
		key = section + ".oauth2"
	case file != "":
		key = section + ".password_file"
	}
	if file == "" {
		return nil, key
	}
	return func() string {
		if p, err := readSecret(key, "", file); err == nil {
			return p
		}
		return first
	}, key
}

// readSecret returns the inline secret or the trimmed content of its file.
func readSecret(key, inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tokenSource builds the XOAUTH2 token source of an oauth2 section, or nil.
func tokenSource(ctx context.Context, key string, o OAuth2Config) (oauth2.TokenSource, error) {
	if !o.enabled() {
		if o.ClientID != "" || o.ClientSecret != "" || o.ClientSecretFile != "" || len(o.Scopes) > 0 {
			// Half a section would be ignored and the password used instead.
			return nil, fmt.Errorf("%s: client settings without a token: give refresh_token (with token_url) or access_token, or remove the section", key)
		}
		return nil, nil
	}
	secret, err := readSecret(key+".client_secret_file", o.ClientSecret, o.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	refresh, err := readSecret(key+".refresh_token_file", o.RefreshToken, o.RefreshTokenFile)
	if err != nil {
		return nil, err
	}
	access, err := readSecret(key+".access_token_file", o.AccessToken, o.AccessTokenFile)
	if err != nil {
		return nil, err
	}
	if refresh == "" {
		if access == "" {
			return nil, fmt.Errorf("%s: an access_token or a refresh_token (with token_url) is needed", key)
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}), nil
	}
	if o.TokenURL == "" {
		return nil, fmt.Errorf("%s.token_url: needed to refresh the token", key)
	}
	// The refresh sends the client secret and the refresh token: over TLS,
	// like every other connection, plain text only on loopback.
	switch u, err := url.Parse(o.TokenURL); {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return nil, fmt.Errorf("%s.token_url: %q is not an https:// URL", key, o.TokenURL)
	case u.Scheme == "http" && !loopback.Host(u.Hostname()):
		return nil, fmt.Errorf("%s.token_url: %q would send the client secret and refresh token in plain text: use https (http is accepted only for loopback addresses)", key, o.TokenURL)
	}
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes, Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL}}
	tok := &oauth2.Token{AccessToken: access, RefreshToken: refresh}
	if access == "" {
		tok.Expiry = time.Unix(1, 0) // force a refresh first
	}
	return conf.TokenSource(ctx, tok), nil
}

// tlsConfig is the TLS client configuration of section (imap, smtp): the
// certificate must name serverName, by default the host of addr.
func tlsConfig(section, caFile, serverName, addr string) (*tls.Config, error) {
	key := section + ".ca_file"
	host, _, _ := net.SplitHostPort(addr)
	if serverName != "" {
		host = serverName
	}
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
