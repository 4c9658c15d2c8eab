package poller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"supportd/internal/loopback"
	"supportd/internal/tlshint"
	"supportd/internal/xoauth2"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"golang.org/x/oauth2"
)

// ErrTimeout is wrapped by errors of commands the server did not answer in
// time; the connection is closed when it happens.
var ErrTimeout = errors.New("imap: server did not answer in time")

// Mailbox describes the selected mailbox.
type Mailbox struct {
	Name           string
	UIDValidity    uint32
	UIDNext        uint32
	Exists         uint32 // messages in the mailbox at SELECT
	PermanentFlags []imap.Flag
	// CanKeywords: PERMANENTFLAGS contains \* (new keywords can be stored).
	CanKeywords bool
}

// Conn is a connected, authenticated session with Config.Mailbox selected.
// It is what the Poller runs on (Poller.Connect opens one).
// Client may be used directly; do not issue commands concurrently with the
// poller on the same Conn.
type Conn struct {
	Client  *imapclient.Client
	Mailbox Mailbox

	cfg       Config
	log       *slog.Logger
	raw       *deadlineConn
	folders   map[string]bool // folders known to exist
	closeOnce sync.Once
	copyBuf   []byte // spool's copy buffer: one FETCH at a time uses it

	// keywordsDropped counts keywords not stored because the mailbox cannot
	// (the poller's, shared by its sessions); keywordWarned: this session
	// warned of it.
	keywordsDropped *atomic.Int64
	keywordWarned   bool
}

// dial connects, authenticates and selects cfg.Mailbox (Poller.Connect); cfg
// has its defaults and is valid.
func dial(ctx context.Context, cfg Config, tok *oauth2.Token, uh *imapclient.UnilateralDataHandler) (*Conn, error) {
	log := cfg.Logger.With("imap_server", cfg.Address)
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("imap.address: %w", err)
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()

	dialFn := cfg.Dial
	if dialFn == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dialFn = d.DialContext
	}
	nc, err := dialFn(dctx, "tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", cfg.Address, err)
	}
	raw := &deadlineConn{Conn: nc, timeout: cfg.ReadTimeout, armed: true}
	// Until the session is ready, the dial context bounds every step.
	stop := context.AfterFunc(dctx, func() { raw.Close() })
	defer stop()

	opts := &imapclient.Options{UnilateralDataHandler: uh}
	var c *imapclient.Client
	switch cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(raw, tlsConfig(cfg, host))
		if err := tc.HandshakeContext(dctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", cfg.Address, tlshint.Wrap("imap", cfg.Address, err))
		}
		c = imapclient.New(tc, opts)
	case TLSStartTLS:
		opts.TLSConfig = tlsConfig(cfg, host)
		if c, err = imapclient.NewStartTLS(raw, opts); err != nil {
			raw.Close()
			return nil, fmt.Errorf("starttls with %s: %w", cfg.Address, tlshint.Wrap("imap", cfg.Address, ctxErr(dctx, err)))
		}
	case TLSNone:
		if !loopback.Host(host) { // Validate checks it too; never weaken this
			raw.Close()
			return nil, fmt.Errorf("imap.tls: none is allowed only for loopback, not %q", host)
		}
		c = imapclient.New(raw, opts)
	default:
		raw.Close()
		return nil, fmt.Errorf("imap.tls: unknown mode %q", cfg.TLS)
	}
	conn := &Conn{Client: c, cfg: cfg, log: log, raw: raw, folders: map[string]bool{}, keywordsDropped: cfg.keywordsDropped}
	if conn.keywordsDropped == nil {
		conn.keywordsDropped = new(atomic.Int64)
	}
	fail := func(op string, err error) (*Conn, error) {
		c.Close()
		return nil, fmt.Errorf("%s: %w", op, ctxErr(dctx, err))
	}
	if err := c.WaitGreeting(); err != nil {
		return fail("greeting", err)
	}
	log.Debug("imap connected", "tls", cfg.TLS)

	if c.State() == imap.ConnStateNotAuthenticated {
		mech, err := authenticate(c, cfg, tok)
		if err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
				err = &AuthError{Username: cfg.Username, Key: cfg.AuthKey, Err: err}
			}
			return fail("authenticate "+mech, err)
		}
		log.Info("imap authenticated", "mechanism", mech, "user", cfg.Username)
	}

	name := cfg.Mailbox
	if cfg.SpecialUse != "" {
		if name, err = findSpecialUse(c, cfg.SpecialUse); err != nil {
			return fail("list "+string(cfg.SpecialUse), err)
		}
		log.Debug("imap special-use mailbox found", "attr", string(cfg.SpecialUse), "folder", name)
	}
	sd, err := c.Select(name, &imap.SelectOptions{ReadOnly: cfg.ReadOnly}).Wait()
	if err != nil {
		return fail("select "+name, err)
	}
	if sd.UIDValidity == 0 {
		return fail("select "+name, errors.New("server sent no UIDVALIDITY"))
	}
	conn.Mailbox = Mailbox{
		Name:           name,
		UIDValidity:    sd.UIDValidity,
		UIDNext:        uint32(sd.UIDNext),
		Exists:         sd.NumMessages,
		PermanentFlags: sd.PermanentFlags,
		CanKeywords:    slices.Contains(sd.PermanentFlags, imap.FlagWildcard),
	}
	log.Info("imap mailbox selected", "folder", name, "read_only", cfg.ReadOnly, "uidvalidity", sd.UIDValidity,
		"uidnext", sd.UIDNext, "exists", sd.NumMessages, "keywords", conn.Mailbox.CanKeywords)
	if !stop() {
		c.Close()
		return nil, fmt.Errorf("connect %s: %w", cfg.Address, dctx.Err())
	}
	return conn, nil
}

// ErrNoSpecialUse: the server lists no mailbox with Config.SpecialUse. Run
// returns it (no retry): the operator names the folder or turns it off.
var ErrNoSpecialUse = errors.New("the server lists no mailbox with this special-use attribute")

// findSpecialUse returns the first mailbox the server lists with attr (RFC
// 6154): LIST RETURN (SPECIAL-USE) when the server announces SPECIAL-USE,
// else a plain LIST, whose attributes some servers fill in all the same.
func findSpecialUse(c *imapclient.Client, attr imap.MailboxAttr) (string, error) {
	var opts *imap.ListOptions
	if c.Caps().Has(imap.CapSpecialUse) {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	list, err := c.List("", "*", opts).Collect()
	if err != nil {
		return "", err
	}
	for _, m := range list {
		for _, a := range m.Attrs {
			if strings.EqualFold(string(a), string(attr)) && !slices.Contains(m.Attrs, imap.MailboxAttrNoSelect) {
				return m.Mailbox, nil
			}
		}
	}
	return "", fmt.Errorf("%w %s", ErrNoSpecialUse, attr)
}

// ctxErr prefers the context's error (a dial timeout or cancellation shows
// up as "use of closed connection" otherwise).
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

func tlsConfig(cfg Config, host string) *tls.Config {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	tc.InsecureSkipVerify = false // verification is never relaxed
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc
}

// authenticate logs in with XOAUTH2 (when a token is given), else
// AUTHENTICATE PLAIN when advertised, else LOGIN. It returns the mechanism.
func authenticate(c *imapclient.Client, cfg Config, tok *oauth2.Token) (string, error) {
	caps := c.Caps()
	if caps == nil {
		return "", errors.New("no CAPABILITY answer")
	}
	switch {
	case tok != nil:
		cl := xoauth2.NewClient(cfg.Username, tok.AccessToken)
		err := c.Authenticate(cl)
		if err != nil && cl.ServerError() != "" {
			err = fmt.Errorf("%w (server said %s)", err, cl.ServerError())
		}
		return xoauth2.Mechanism, err
	case caps.Has(imap.Cap("AUTH=PLAIN")):
		return sasl.Plain, c.Authenticate(sasl.NewPlainClient("", cfg.Username, password(cfg)))
	case caps.Has(imap.CapLoginDisabled):
		// Dovecot with disable_plaintext_auth / ssl = required on a
		// connection without TLS: the password is not sent.
		msg := "server disabled LOGIN and offers no AUTH=PLAIN"
		if cfg.TLS == TLSNone {
			msg += ": it requires TLS (set imap.tls to starttls or implicit)"
		}
		return "LOGIN", errors.New(msg)
	default:
		return "LOGIN", c.Login(cfg.Username, password(cfg)).Wait()
	}
}

func password(cfg Config) string {
	if cfg.PasswordFunc != nil {
		return cfg.PasswordFunc()
	}
	return cfg.Password
}

// AuthError is a login the server refused (a NO, typically
// [AUTHENTICATIONFAILED]): the credentials are wrong, not the network.
type AuthError struct {
	Username string
	Key      string // the configuration key of the credential
	Err      error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("login as %s refused (check %s): %v", e.Username, e.Key, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Close logs out (bounded by a short timeout) and closes the connection.
// It is safe to call more than once.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.Client.State() != imap.ConnStateLogout {
			err = c.wait(2*time.Second, "logout", c.Client.Logout().Wait)
		}
		if cerr := c.Client.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = cerr
		}
	})
	return err
}

// wait runs f and waits at most d for it; on timeout the connection is
// closed (which makes f return) and an ErrTimeout error is returned.
func (c *Conn) wait(d time.Duration, op string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		return nil
	case <-t.C:
		c.Client.Close()
		return fmt.Errorf("%s: %w (%v)", op, ErrTimeout, d)
	}
}

// Noop sends NOOP and waits at most d for the answer (watchdog).
func (c *Conn) Noop(d time.Duration) error {
	return c.wait(d, "noop", c.Client.Noop().Wait)
}

// deadlineConn gives the connection a read timeout. imapclient resets the
// read deadline to "none" between responses (so a half-open TCP connection
// hangs forever); while armed, such a reset becomes now+timeout instead.
// The poller disarms it while the handler runs (no traffic is expected then).
//
// A read timeout is made final: the connection is closed and every later
// Read fails. (imapclient's decoder does not keep a read error: the next read
// would start again with a fresh 30 s deadline.)
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu         sync.Mutex
	armed      bool
	clientZero bool  // the client's last read deadline was "none"
	readErr    error // sticky
}

func (c *deadlineConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	err := c.readErr
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("read: %w (%w)", ErrTimeout, err)
		c.mu.Lock()
		c.readErr = err
		c.mu.Unlock()
		c.Conn.Close()
	}
	return n, err
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clientZero = t.IsZero()
	if t.IsZero() && c.armed {
		t = time.Now().Add(c.timeout)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// arm switches the idle read timeout on or off.
func (c *deadlineConn) arm(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = on
	if !c.clientZero {
		return
	}
	if on {
		c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	} else {
		c.Conn.SetReadDeadline(time.Time{})
	}
}
