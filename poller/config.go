package poller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"

	"supportd/internal/loopback"

	"golang.org/x/oauth2"
)

// TLS modes accepted in Config.TLS (config key imap.tls).
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 993)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS before authenticating
	TLSNone     = "none"     // no TLS at all: only for loopback addresses
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMailbox          = "INBOX"
	DefaultPollInterval     = 30 * time.Second
	DefaultIdleRestart      = 9 * time.Minute
	DefaultWatchdogInterval = 20 * time.Second
	DefaultBatchSize        = 100
	DefaultBatchBytes       = 8 << 20
	DefaultMaxMessageBytes  = 50 << 20
	DefaultBackoffMin       = time.Second
	DefaultBackoffMax       = 2 * time.Minute
	DefaultDialTimeout      = 30 * time.Second

	// tokenWarnBefore: a token that expires within this window and could not
	// be refreshed is reported (log warning, Stats.TokenWarning).
	tokenWarnBefore = 10 * time.Minute
)

// Config configures a Poller. Zero fields take the defaults above.
type Config struct {
	// Address is host:port of the IMAP server (imap.address).
	Address string
	// TLS is "implicit" (default), "starttls" or "none" (imap.tls). "none" is
	// accepted only when the host is a loopback address (127.0.0.0/8, ::1,
	// "localhost").
	TLS string
	// TLSConfig is optional (tests: RootCAs of a self-signed server).
	// Certificate verification is always on: InsecureSkipVerify is rejected.
	TLSConfig *tls.Config

	// Username and Password for LOGIN / AUTHENTICATE PLAIN. Never logged.
	Username, Password string
	// PasswordFunc, when set, gives the password before every login instead
	// of Password (a rotated password_file then needs no restart).
	PasswordFunc func() string
	// AuthKey is the configuration key of the credential, named when the
	// server refuses the login (default imap.password).
	AuthKey string
	// TokenSource, when set, switches authentication to AUTHENTICATE XOAUTH2
	// with a token taken from it before every connect. Wrap it in
	// oauth2.ReuseTokenSource (oauth2.Config.TokenSource already does) so
	// expired tokens are refreshed.
	TokenSource oauth2.TokenSource

	// Mailbox to read (imap.mailbox); default INBOX.
	Mailbox string
	// SpecialUse, when set (e.g. imap.MailboxAttrSent), makes the mailbox
	// read the one the server lists with this special-use attribute (RFC
	// 6154), looked up at every connect; Mailbox is then ignored. When the
	// server lists none, Run returns an error wrapping ErrNoSpecialUse.
	SpecialUse imap.MailboxAttr
	// ReadOnly selects the mailbox with EXAMINE and never stores a flag or
	// moves a message (the handler's marks are dropped with a warning).
	ReadOnly bool
	// StartAt is where reading begins when the handler (a Starter) has never
	// read the mailbox (imap.start_at): see StartAt.
	StartAt StartAt
	// Idle waits for new mail with IDLE when the server offers it; otherwise
	// (or when false) the mailbox is searched every PollInterval.
	Idle bool
	// PollInterval between searches in polling mode; default 30s.
	PollInterval time.Duration
	// IdleRestart: IDLE is stopped and restarted at least this often
	// (RFC 2177 asks for < 29 min; some servers drop at 10); default 9m.
	IdleRestart time.Duration
	// WatchdogInterval: during an idle gap (IDLE or polling sleep) a NOOP is
	// sent this often and must be answered within the same interval, so a
	// half-open connection is noticed within 2×WatchdogInterval; default 20s.
	WatchdogInterval time.Duration
	// ReadTimeout bounds any wait for a byte from the server while the
	// poller expects traffic (imapclient itself waits forever between
	// responses); default 2×WatchdogInterval + 5s.
	ReadTimeout time.Duration
	// DialTimeout bounds TCP connect + TLS handshake + greeting + login +
	// select; default 30s.
	DialTimeout time.Duration

	// BatchSize is the number of UIDs per UID FETCH; default 100.
	BatchSize int
	// BatchBytes caps the RFC822.SIZE total of one batch (its first message
	// always goes, whatever its size): what the handler holds for a batch
	// (staff copies of the originals, in one transaction) stays bounded when a
	// backlog of large mail arrives. Default 8 MiB (imap.batch_bytes).
	BatchBytes int64
	// MaxMessageBytes: a message whose RFC822.SIZE is above it is not fetched
	// and is delivered as TooLarge; default 50 MiB (limits.max_message_bytes).
	MaxMessageBytes int64
	// SpoolDir receives one file per fetched body. Default: a new private
	// directory under os.TempDir() created by New.
	SpoolDir string

	// BackoffMin .. BackoffMax bound the capped exponential reconnect backoff
	// (with jitter); defaults 1s .. 2m.
	BackoffMin, BackoffMax time.Duration

	// Logger; default discards.
	Logger *slog.Logger
	// Dial optionally replaces the TCP dialer (tests, toxiproxy).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock for Stats and token expiry checks; default time.Now.
	Now func() time.Time

	keywordsDropped *atomic.Int64 // set by New: the Poller's counter

}

// withDefaults returns a copy of cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.TLS == "" {
		cfg.TLS = TLSImplicit
	}
	cfg.TLS = strings.ToLower(cfg.TLS)
	if cfg.Mailbox == "" {
		cfg.Mailbox = DefaultMailbox
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.IdleRestart == 0 {
		cfg.IdleRestart = DefaultIdleRestart
	}
	if cfg.WatchdogInterval == 0 {
		cfg.WatchdogInterval = DefaultWatchdogInterval
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 2*cfg.WatchdogInterval + 5*time.Second
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.BatchBytes == 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = DefaultBackoffMin
	}
	if cfg.AuthKey == "" {
		cfg.AuthKey = "imap.password"
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = DefaultBackoffMax
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Validate checks a Config (after defaults); errors name the config key.
func (cfg Config) Validate() error {
	var errs []error
	host, _, err := net.SplitHostPort(cfg.Address)
	switch {
	case cfg.Address == "":
		errs = append(errs, errors.New("imap.address: required (host:port)"))
	case err != nil:
		errs = append(errs, fmt.Errorf("imap.address: %q is not host:port: %w", cfg.Address, err))
	}
	switch cfg.TLS {
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if err == nil && !loopback.Host(host) {
			errs = append(errs, fmt.Errorf("imap.tls: %q is allowed only for a loopback address, not %q", TLSNone, host))
		}
	default:
		errs = append(errs, fmt.Errorf("imap.tls: %q is not one of implicit, starttls, none", cfg.TLS))
	}
	if cfg.TLSConfig != nil && cfg.TLSConfig.InsecureSkipVerify {
		errs = append(errs, errors.New("imap.tls: certificate verification cannot be disabled (InsecureSkipVerify)"))
	}
	if cfg.Username == "" { // XOAUTH2 sends it too
		errs = append(errs, errors.New("imap.username: required"))
	}
	if cfg.Mailbox == "" {
		errs = append(errs, errors.New("imap.mailbox: required"))
	}
	durations := []struct {
		key string
		d   time.Duration
	}{
		{"imap.poll_interval", cfg.PollInterval},
		{"imap.idle_restart", cfg.IdleRestart},
		{"imap.watchdog_interval", cfg.WatchdogInterval},
		{"imap.read_timeout", cfg.ReadTimeout},
		{"imap.dial_timeout", cfg.DialTimeout},
		{"imap.backoff_min", cfg.BackoffMin},
		{"imap.backoff_max", cfg.BackoffMax},
	}
	for _, d := range durations {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %v", d.key, d.d))
		}
	}
	if cfg.IdleRestart >= 29*time.Minute {
		errs = append(errs, fmt.Errorf("imap.idle_restart: %v must be below 29m (RFC 2177)", cfg.IdleRestart))
	}
	if cfg.ReadTimeout > 0 && cfg.ReadTimeout <= cfg.WatchdogInterval {
		errs = append(errs, fmt.Errorf("imap.read_timeout: %v must exceed imap.watchdog_interval %v", cfg.ReadTimeout, cfg.WatchdogInterval))
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		errs = append(errs, fmt.Errorf("imap.backoff_max: %v is below imap.backoff_min %v", cfg.BackoffMax, cfg.BackoffMin))
	}
	if cfg.BatchBytes < 0 {
		errs = append(errs, fmt.Errorf("imap.batch_bytes: must be positive, got %d", cfg.BatchBytes))
	}
	if cfg.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("imap.batch_size: must be positive, got %d", cfg.BatchSize))
	}
	if cfg.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("limits.max_message_bytes: must be positive, got %d", cfg.MaxMessageBytes))
	}
	if cfg.SpoolDir != "" {
		if fi, err := os.Stat(cfg.SpoolDir); err != nil {
			errs = append(errs, fmt.Errorf("imap.spool_dir: %w", err))
		} else if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("imap.spool_dir: %q is not a directory", cfg.SpoolDir))
		}
	}
	return errors.Join(errs...)
}
