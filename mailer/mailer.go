package mailer

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

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"
)

// TLS modes accepted in Config.TLS (configuration key smtp.tls).
const (
	TLSImplicit = "implicit" // TLS from the first byte (port 465, RFC 8314)
	TLSStartTLS = "starttls" // plain connect, then STARTTLS, required (port 587)
	TLSNone     = "none"     // no TLS at all: loopback addresses only
)

// Authentication mechanisms accepted in Config.AuthMech.
const (
	AuthPlain       = "PLAIN"
	AuthLogin       = "LOGIN"
	AuthXOAUTH2     = "XOAUTH2"
	AuthOAuthBearer = "OAUTHBEARER"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultCommandTimeout = 30 * time.Second
	DefaultDataTimeout    = 2 * time.Minute
	DefaultMaxConns       = 2
	DefaultIdleTimeout    = 15 * time.Second
)

// ErrClosed is returned for envelopes handed to a Mailer after Close.
// It is temporary: the envelope was not sent and can be retried later.
var ErrClosed = errors.New("mailer closed")

// Config configures a Mailer. Zero fields take the documented defaults.
type Config struct {
	// Address is host:port of the submission server (smtp.address).
	Address string
	// TLS is implicit, starttls or none (smtp.tls). none is accepted only
	// when the host of Address is a loopback address or "localhost".
	TLS string
	// TLSConfig is optional (tests set RootCAs). Certificates are always
	// verified: a config with InsecureSkipVerify is refused by New.
	// ServerName defaults to the host of Address.
	TLSConfig *tls.Config

	Username, Password string
	// PasswordFunc, when set, gives the password before every AUTH instead
	// of Password (a rotated password_file then needs no restart).
	PasswordFunc func() string
	// AuthKey is the configuration key of the credential, named when the
	// server refuses AUTH (default smtp.password).
	AuthKey string
	// TokenSource, when set, authenticates with XOAUTH2 (or OAUTHBEARER if
	// AuthMech says so) using a token taken from it before each connection;
	// an oauth2.ReuseTokenSource refreshes an expired token there.
	TokenSource oauth2.TokenSource
	// AuthMech forces a mechanism (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER).
	// "" picks XOAUTH2 with a TokenSource (OAUTHBEARER when only that is
	// offered), else PLAIN when the server
	// advertises it, else LOGIN (Office 365 offers only LOGIN).
	AuthMech string
	// HeloName is the name sent in EHLO (smtp.helo_name; default: the
	// machine's fully qualified name, HostFQDN). A submission server that
	// checks HELO (Postfix reject_non_fqdn_helo_hostname) rejects
	// "localhost". With starttls both EHLOs, before and after the TLS
	// handshake, say HeloName (starttls.go).
	HeloName string

	// DialTimeout bounds TCP connect plus the implicit TLS handshake
	// (default 10s); CommandTimeout bounds each command's reply, STARTTLS
	// handshake included (default 30s); DataTimeout bounds writing the
	// message and waiting for the reply to the final "." (default 2m).
	DialTimeout, CommandTimeout, DataTimeout time.Duration
	// MaxConns is the number of SMTP sessions a batch uses in parallel
	// (default 2).
	MaxConns int
	// IdleTimeout is how long a session stays open after a batch for the
	// next one (default 15s; negative: QUIT after every batch). Servers drop
	// idle sessions after minutes (Postfix smtpd_timeout 300s); a session
	// they dropped meanwhile is replaced without losing the envelope.
	IdleTimeout time.Duration
	// Logger receives session-level events (never bodies or credentials).
	Logger *slog.Logger
	// Dial replaces the TCP dialer (tests route through a proxy with it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Envelope is one message to deliver: the SMTP reverse-path, the
// recipients and the complete RFC 5322 message (CRLF line endings).
type Envelope struct {
	From      string
	To        []string
	Data      []byte
	MessageID string // for logs only
}

// Mailer delivers envelopes to one submission server. It is safe for
// concurrent use. A Send/SendBatch reuses the sessions an earlier call left
// open (at most MaxConns, for IdleTimeout) and opens what it lacks; Close
// ends them all (QUIT).
type Mailer struct {
	cfg        Config
	host       string
	tlsConfig  *tls.Config
	log        *slog.Logger
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)
	closed     atomic.Bool
	closeCtx   context.Context
	closeAll   context.CancelFunc
	inflight   sync.WaitGroup
	inflightMu sync.Mutex // orders inflight.Add against Close's Wait

	authFailures atomic.Int64
	authErr      atomic.Pointer[error] // the last refused AUTH; nil once one succeeds
	configFault  atomic.Pointer[error] // see SetConfigFault

	idleMu sync.Mutex
	idle   []*session // open sessions kept between batches (IdleTimeout)
}

// Username is the SMTP login (smtp.username), for messages that name it.
func (m *Mailer) Username() string { return m.cfg.Username }

// SetConfigFault records (nil: clears) that the server refuses our mail for a
// configuration reason (its caller decides: see daemon's smtpfault.go);
// ConfigFault returns it, for /healthz.
func (m *Mailer) SetConfigFault(err error) {
	if err == nil {
		m.configFault.Store(nil)
		return
	}
	m.configFault.Store(&err)
}

// ConfigFault is the refusal recorded by SetConfigFault, nil when none.
func (m *Mailer) ConfigFault() error {
	if p := m.configFault.Load(); p != nil {
		return *p
	}
	return nil
}

// AuthFailures is the number of AUTH commands the server refused (535, 5.7.8),
// and the last refusal while no AUTH has succeeded since (nil otherwise).
func (m *Mailer) AuthFailures() (int64, error) {
	var last error
	if p := m.authErr.Load(); p != nil {
		last = *p
	}
	return m.authFailures.Load(), last
}

// Validate checks cfg as New does, without building anything: errors name
// the smtp.* keys (config check runs it).
func (cfg Config) Validate() error {
	_, _, err := cfg.check()
	return err
}

// check validates cfg and returns its host and TLS settings.
func (cfg Config) check() (host string, tc *tls.Config, err error) {
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil || host == "" || port == "" {
		return "", nil, fmt.Errorf("smtp.address: %q is not host:port", cfg.Address)
	}
	switch cfg.TLS {
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !loopback.Host(host) {
			return "", nil, fmt.Errorf("smtp.tls: %q is allowed only for loopback addresses, not %q", TLSNone, host)
		}
	case "":
		return "", nil, fmt.Errorf("smtp.tls: missing (want %s, %s or %s)", TLSImplicit, TLSStartTLS, TLSNone)
	default:
		return "", nil, fmt.Errorf("smtp.tls: unknown mode %q (want %s, %s or %s)", cfg.TLS, TLSImplicit, TLSStartTLS, TLSNone)
	}
	if cfg.TLSConfig != nil {
		if cfg.TLSConfig.InsecureSkipVerify {
			return "", nil, errors.New("smtp.tls: certificate verification cannot be disabled (InsecureSkipVerify); add the CA instead (smtp.ca_file)")
		}
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	switch mech := strings.ToUpper(cfg.AuthMech); mech {
	case "", AuthPlain, AuthLogin:
	case AuthXOAUTH2, AuthOAuthBearer:
		if cfg.TokenSource == nil {
			return "", nil, fmt.Errorf("smtp.auth_mech: %s needs an OAuth2 token source (smtp.oauth2)", mech)
		}
	default:
		return "", nil, fmt.Errorf("smtp.auth_mech: unknown mechanism %q", mech)
	}
	if cfg.MaxConns < 0 {
		return "", nil, fmt.Errorf("smtp.max_conns: %d is negative", cfg.MaxConns)
	}
	if strings.ContainsAny(cfg.HeloName, " \r\n") {
		return "", nil, fmt.Errorf("smtp.helo_name: %q is not a domain", cfg.HeloName)
	}
	return host, tc, nil
}

// New validates cfg and returns a Mailer. Errors name the configuration
// key at fault (smtp.address, smtp.tls, smtp.auth_mech, smtp.max_conns).
func New(cfg Config) (*Mailer, error) {
	host, tc, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	cfg.AuthMech = strings.ToUpper(cfg.AuthMech)
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.HeloName == "" {
		cfg.HeloName = HostFQDN()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dial := cfg.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	if cfg.AuthKey == "" {
		cfg.AuthKey = "smtp.password"
	}
	if !isFQDN(cfg.HeloName) {
		log.Warn("smtp.helo_name: not a fully qualified name; a submission server that checks HELO rejects it", "helo_name", cfg.HeloName)
	}
	m := &Mailer{cfg: cfg, host: host, tlsConfig: tc, log: log, dial: dial}
	m.closeCtx, m.closeAll = context.WithCancel(context.Background())
	return m, nil
}

// Close stops the Mailer: envelopes still being sent are aborted (their
// errors are temporary) and later calls return ErrClosed. It waits for
// in-flight calls to return.
func (m *Mailer) Close() error {
	m.inflightMu.Lock()
	m.closed.Store(true)
	m.inflightMu.Unlock()
	m.closeAll()
	m.inflight.Wait()
	m.idleMu.Lock()
	idle := m.idle
	m.idle = nil
	m.idleMu.Unlock()
	for _, s := range idle {
		s.idleTimer.Stop()
		s.quit()
	}
	return nil
}

// takeIdle returns a session kept from an earlier batch, now bound to ctx, or
// nil.
func (m *Mailer) takeIdle(ctx context.Context) *session {
	m.idleMu.Lock()
	defer m.idleMu.Unlock()
	for len(m.idle) > 0 {
		s := m.idle[len(m.idle)-1]
		m.idle = m.idle[:len(m.idle)-1]
		s.idleTimer.Stop()
		raw := s.raw
		s.stop = context.AfterFunc(ctx, func() { raw.Close() })
		return s
	}
	return nil
}

// putIdle keeps s open for the next batch (at most MaxConns sessions, for
// IdleTimeout), or ends it.
func (m *Mailer) putIdle(s *session) {
	if s.broken || m.cfg.IdleTimeout < 0 || m.closed.Load() || !s.stop() {
		s.quit() // !s.stop(): the batch's context already closed the connection
		return
	}
	m.idleMu.Lock()
	if len(m.idle) >= m.cfg.MaxConns || m.closed.Load() {
		m.idleMu.Unlock()
		s.quit()
		return
	}
	m.idle = append(m.idle, s)
	s.idleTimer = time.AfterFunc(m.cfg.IdleTimeout, func() {
		m.idleMu.Lock()
		i := slices.Index(m.idle, s)
		if i >= 0 {
			m.idle = slices.Delete(m.idle, i, i+1)
		}
		m.idleMu.Unlock()
		if i >= 0 {
			s.quit()
		}
	})
	m.idleMu.Unlock()
}

// Send delivers one envelope on a fresh session. A nil error means the
// server answered 250 to the final ".".
func (m *Mailer) Send(ctx context.Context, e Envelope) error {
	return m.SendBatch(ctx, []Envelope{e})[0]
}

// SendBatch delivers es over at most MaxConns parallel sessions, each
// reused for many envelopes, and returns one error per envelope (nil means
// accepted with 250). Each envelope is all-or-nothing: if any recipient is
// refused, no DATA is sent for it (the transaction is reset), so a retry
// never duplicates it to the recipients that were accepted.
//
// A session the server closed (421, idle timeout, reset) is replaced, and
// an envelope that failed on a reused session before its body was sent is
// retried once on the new one. After a failure to connect, that worker
// stops; envelopes no worker reached get the connection error.
func (m *Mailer) SendBatch(ctx context.Context, es []Envelope) []error {
	return m.SendBatchNotify(ctx, es, nil)
}

// SendBatchNotify is SendBatch calling done(i, err) as soon as envelope i is
// finished (err nil: the server answered 250), from the sending goroutines, so
// the caller can record each acceptance at once and keep the RFC 1047 window to
// the few messages accepted since its last record. Envelopes never attempted
// (the server unreachable, ctx cancelled) are not reported to done; their error
// is in the returned slice.
func (m *Mailer) SendBatchNotify(ctx context.Context, es []Envelope, done func(i int, err error)) []error {
	return m.SendBatchRecorded(ctx, es, func(i int, err error) <-chan struct{} {
		if done != nil {
			done(i, err)
		}
		return nil
	})
}

// SendBatchRecorded is SendBatchNotify for a caller that records each
// acceptance durably: record(i, err) starts recording envelope i's outcome and
// returns a channel closed once it is recorded (nil: nothing to wait for). The
// next envelope on that session is transferred meanwhile, but its final "."
// waits for the channel, and so does the end of the batch: a crash can leave
// at most one accepted, unrecorded envelope per session (the RFC 1047
// window), at the cost of one record per envelope overlapping the next
// transfer rather than adding to it.
func (m *Mailer) SendBatchRecorded(ctx context.Context, es []Envelope, record func(i int, err error) <-chan struct{}) []error {
	errs := make([]error, len(es))
	if len(es) == 0 {
		return errs
	}
	m.inflightMu.Lock()
	if m.closed.Load() {
		m.inflightMu.Unlock()
		for i := range errs {
			errs[i] = &Error{Op: "send", Temporary: true, Err: ErrClosed}
		}
		return errs
	}
	m.inflight.Add(1)
	m.inflightMu.Unlock()
	defer m.inflight.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.closeCtx, cancel)
	defer stop()

	workers := min(m.cfg.MaxConns, len(es))
	next := make(chan int)
	finished := make([]bool, len(es))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		dialErr error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := m.takeIdle(ctx)
			var recorded <-chan struct{} // the previous acceptance's record
			waitRecorded := func() {
				if recorded != nil {
					<-recorded
					recorded = nil
				}
			}
			defer func() {
				waitRecorded()
				if s != nil {
					m.putIdle(s)
				}
			}()
			for i := range next {
				var err error
				s, err = m.deliver(ctx, s, es[i], waitRecorded)
				errs[i] = err
				if r := record(i, err); r != nil {
					waitRecorded() // a failure's record may come before the last acceptance's
					recorded = r
				}
				mu.Lock()
				finished[i] = true
				if s == nil && err != nil && isDialOp(err) {
					dialErr = err
				}
				mu.Unlock()
				if s == nil && err != nil && isDialOp(err) {
					return // server unreachable from here: stop taking work
				}
			}
		}()
	}
	alive := make(chan struct{})
	go func() { wg.Wait(); close(alive) }()
feed:
	for i := range es {
		select {
		case next <- i:
		case <-alive:
			break feed
		}
	}
	close(next)
	<-alive
	for i := range es {
		if !finished[i] {
			cause := dialErr
			if cause == nil {
				cause = &Error{Op: "send", Temporary: true, Err: ctx.Err()}
			}
			errs[i] = cause
		}
	}
	return errs
}

func isDialOp(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Op {
	case "dial", "tls", "greeting", "ehlo", "starttls", "auth", "token":
		return true
	}
	return false
}

// deliver sends e on s (dialing when s is nil) and returns the session to
// use next, nil when it is no longer usable.
func (m *Mailer) deliver(ctx context.Context, s *session, e Envelope, beforeDot func()) (*session, error) {
	if err := checkEnvelope(e); err != nil {
		return s, err
	}
	if err := ctx.Err(); err != nil {
		return s, &Error{Op: "send", Temporary: true, Err: err}
	}
	reused := s != nil
	if s == nil {
		var err error
		if s, err = m.open(ctx); err != nil {
			return nil, err
		}
	}
	err := s.send(ctx, e, beforeDot)
	if err == nil {
		return s, nil
	}
	if !s.broken {
		return s, err
	}
	s.close()
	var de *Error
	if reused && errors.As(err, &de) && !de.bodySent && ctx.Err() == nil {
		// The server dropped a session we had used before (idle timeout,
		// 421 shutdown): nothing of e was accepted, so one more try on a
		// new session cannot duplicate it.
		m.log.Debug("smtp session lost, reconnecting", "message_id", e.MessageID, "err", err)
		s2, oerr := m.open(ctx)
		if oerr != nil {
			return nil, oerr
		}
		if err = s2.send(ctx, e, beforeDot); err != nil && s2.broken {
			s2.close()
			return nil, err
		}
		return s2, err
	}
	return nil, err
}

func checkEnvelope(e Envelope) error {
	bad := func(f string, a ...any) error {
		return &Error{Op: "envelope", Err: fmt.Errorf(f, a...)}
	}
	if !validPath(e.From, true) {
		return bad("invalid reverse-path %q", e.From)
	}
	if len(e.To) == 0 {
		return bad("no recipients")
	}
	for _, to := range e.To {
		if !validPath(to, false) {
			return bad("invalid recipient %q", to)
		}
	}
	if len(e.Data) == 0 {
		return bad("empty message")
	}
	return nil
}

// validPath accepts a bare address for MAIL FROM / RCPT TO: no brackets,
// spaces or control characters (so nothing can smuggle a command).
func validPath(a string, allowEmpty bool) bool {
	if a == "" {
		return allowEmpty
	}
	if len(a) > 254 || strings.Count(a, "@") < 1 {
		return false
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f || r == '<' || r == '>' {
			return false
		}
	}
	return true
}

// session is one authenticated SMTP connection.
type session struct {
	m         *Mailer
	c         *smtp.Client
	raw       net.Conn
	stop      func() bool
	idleTimer *time.Timer // while kept between batches
	used      int         // transactions begun
	dirty     bool        // a transaction was aborted: RSET before the next
	broken    bool        // connection state unknown or closed: discard
}

func (m *Mailer) open(ctx context.Context) (*session, error) {
	var tok *oauth2.Token
	if m.cfg.TokenSource != nil {
		// A fresh token per connection: ReuseTokenSource refreshes here.
		var err error
		if tok, err = m.cfg.TokenSource.Token(); err != nil {
			m.log.Error("smtp oauth2 token refresh failed; mail stays queued", "err", err)
			return nil, &Error{Op: "token", Temporary: true, Err: err}
		}
	}
	dctx, cancel := context.WithTimeout(ctx, m.cfg.DialTimeout)
	defer cancel()
	raw, err := m.dial(dctx, "tcp", m.cfg.Address)
	if err != nil {
		return nil, m.wrap(ctx, "dial", nil, err)
	}
	s := &session{m: m, raw: raw}
	// Cancelling ctx closes the connection, which unblocks any read or
	// write in go-smtp (it has no context support of its own).
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(op string, err error) (*session, error) {
		s.close()
		return nil, m.wrap(ctx, op, nil, err)
	}
	switch m.cfg.TLS {
	case TLSImplicit:
		tc := tls.Client(raw, m.tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fail("tls", err)
		}
		s.c = smtp.NewClient(tc)
	case TLSStartTLS:
		tc, err := m.startTLS(raw)
		if err != nil {
			return fail("starttls", err)
		}
		s.c = smtp.NewClient(tc)
	default:
		s.c = smtp.NewClient(raw)
	}
	s.c.CommandTimeout = m.cfg.CommandTimeout
	s.c.SubmissionTimeout = m.cfg.DataTimeout
	// For starttls this EHLO is the first write after STARTTLS, so the
	// handshake (and certificate verification) happens here.
	if err := s.c.Hello(m.cfg.HeloName); err != nil {
		op := "ehlo"
		switch {
		case m.cfg.TLS == TLSStartTLS && isTLSError(err):
			op = "tls"
		case m.cfg.TLS == TLSStartTLS && !isSMTPError(err):
			// The handshake went through and the server hung up on the EHLO
			// that follows: a server-side failure (Postfix smtpd dies there
			// when its SASL backend is missing), not a TLS problem.
			err = fmt.Errorf("the server closed the connection after STARTTLS (in the handshake or before answering EHLO): a server-side failure, not a TLS one — check the server's log (Postfix: its SASL backend): %w", err)
		}
		return fail(op, err)
	}
	if err := s.auth(tok); err != nil {
		if se := (*smtp.SMTPError)(nil); errors.As(err, &se) && (se.Code == 535 || se.EnhancedCode == smtp.EnhancedCode{5, 7, 8}) {
			m.authFailures.Add(1)
			user := "smtp.username" // beside AuthKey: accounts[1].smtp.password → accounts[1].smtp.username
			if i := strings.LastIndexByte(m.cfg.AuthKey, '.'); i > 0 {
				user = m.cfg.AuthKey[:i] + ".username"
			}
			refused := fmt.Errorf("login as %s refused (check %s and %s): %w", m.cfg.Username, user, m.cfg.AuthKey, err)
			m.authErr.Store(&refused)
			m.log.Error("smtp authentication failed", "user", m.cfg.Username, "key", m.cfg.AuthKey, "err", refused)
			err = refused
		}
		return fail("auth", err)
	}
	m.authErr.Store(nil)
	m.log.Debug("smtp session open", "address", m.cfg.Address, "tls", m.cfg.TLS)
	return s, nil
}

// isTLSError: err comes from the TLS layer (handshake, alert, record,
// certificate), not from the connection being closed.
func isTLSError(err error) bool {
	var (
		alert tls.AlertError
		rec   tls.RecordHeaderError
		ech   *tls.ECHRejectionError
	)
	return IsTLSVerification(err) || errors.As(err, &alert) || errors.As(err, &rec) || errors.As(err, &ech) ||
		strings.Contains(err.Error(), "tls: ")
}

func isSMTPError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

func (s *session) auth(tok *oauth2.Token) error {
	cfg := s.m.cfg
	if cfg.PasswordFunc != nil {
		cfg.Password = cfg.PasswordFunc()
	}
	if tok == nil && cfg.Username == "" && cfg.Password == "" {
		return nil
	}
	if ok, _ := s.c.Extension("AUTH"); !ok {
		return errors.New("server does not offer AUTH (credentials are configured)")
	}
	mech := cfg.AuthMech
	if mech == "" {
		switch {
		case tok != nil && !s.c.SupportsAuth(AuthXOAUTH2) && s.c.SupportsAuth(AuthOAuthBearer):
			mech = AuthOAuthBearer
		case tok != nil:
			mech = AuthXOAUTH2
		case s.c.SupportsAuth(AuthPlain):
			mech = AuthPlain
		default:
			mech = AuthLogin
		}
	}
	if !s.c.SupportsAuth(mech) {
		_, offered := s.c.Extension("AUTH")
		return fmt.Errorf("server does not offer AUTH %s (offers %q)", mech, offered)
	}
	var a sasl.Client
	switch mech {
	case AuthPlain:
		a = sasl.NewPlainClient("", cfg.Username, cfg.Password)
	case AuthLogin:
		a = sasl.NewLoginClient(cfg.Username, cfg.Password)
	case AuthXOAUTH2:
		a = xoauth2.NewClient(cfg.Username, tok.AccessToken)
	case AuthOAuthBearer:
		a = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{
			Username: cfg.Username, Host: s.m.host, Token: tok.AccessToken,
		})
	}
	return s.c.Auth(a)
}

// send runs one mail transaction. It sets s.broken when the connection
// can no longer be trusted and s.dirty when it needs RSET.
func (s *session) send(ctx context.Context, e Envelope, beforeDot func()) error {
	m := s.m
	fail := func(op, rcpt string, err error) error {
		if !isSMTPError(err) || smtpCode(err) == 421 {
			s.broken = true
		}
		return m.wrap(ctx, op, &Error{Recipient: rcpt}, err)
	}
	if s.dirty {
		if err := s.c.Reset(); err != nil {
			s.broken = true
			return m.wrap(ctx, "rset", nil, err)
		}
		s.dirty = false
	}
	if max, ok := s.c.MaxMessageSize(); ok && max > 0 && len(e.Data) > max {
		return &Error{Op: "size", Err: fmt.Errorf("message of %d bytes exceeds the server's SIZE %d", len(e.Data), max)}
	}
	s.used++
	opts := &smtp.MailOptions{Size: int64(len(e.Data))}
	if !isASCII(e.From) || !allASCII(e.To) {
		opts.UTF8 = true
	}
	s.dirty = true
	if err := s.c.Mail(e.From, opts); err != nil {
		return fail("mail", "", err)
	}
	for _, to := range e.To {
		if err := s.c.Rcpt(to, nil); err != nil {
			return fail("rcpt", to, err)
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return fail("data", "", err)
	}
	// go-smtp sets no deadline while the body is written.
	_ = s.raw.SetWriteDeadline(time.Now().Add(m.cfg.DataTimeout))
	_, err = w.Write(e.Data)
	maybe := false
	if err == nil {
		// Close writes the final "." and waits SubmissionTimeout for the
		// reply. A connection lost from here on may have delivered the
		// message (RFC 1047); before it, the server cannot have.
		if beforeDot != nil {
			beforeDot() // the previous acceptance is recorded before this one can happen
		}
		err = w.Close()
		maybe = err != nil && !isSMTPError(err)
	}
	_ = s.raw.SetWriteDeadline(time.Time{})
	s.dirty = false
	if err != nil {
		if !isSMTPError(err) || smtpCode(err) == 421 {
			s.broken = true
		}
		return m.wrap(ctx, "data", &Error{bodySent: true, MaybeDelivered: maybe}, err)
	}
	return nil
}

func (s *session) quit() {
	if s.broken || s.c == nil {
		s.close()
		return
	}
	if err := s.c.Quit(); err != nil {
		s.close()
		return
	}
	s.stop()
}

func (s *session) close() {
	s.broken = true
	if s.stop != nil {
		s.stop()
	}
	if s.c != nil {
		s.c.Close()
	} else {
		s.raw.Close()
	}
}

// wrap builds the *Error for op, classifying err. base carries extra
// fields (Recipient, bodySent) and may be nil.
func (m *Mailer) wrap(ctx context.Context, op string, base *Error, err error) error {
	e := &Error{Op: op, Err: err}
	if base != nil {
		e.Recipient, e.bodySent, e.MaybeDelivered = base.Recipient, base.bodySent, base.MaybeDelivered
	}
	if cerr := ctx.Err(); cerr != nil && !isSMTPError(err) {
		e.Err = fmt.Errorf("%w (%w)", cerr, err)
	}
	e.Temporary = classifyTemporary(op, err)
	if se := (*smtp.SMTPError)(nil); errors.As(err, &se) && se.Code/100 == 5 {
		switch op {
		case "mail":
			e.Policy = true
		case "rcpt", "data":
			e.Policy = se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 7
		}
		if heloRefused(se.Message) {
			// Our EHLO name, at whatever step the server says so (Postfix:
			// at RCPT TO): a configuration fault, not the message's.
			e.Policy, e.HELO = true, m.cfg.HeloName
		}
		if e.Policy {
			e.Temporary = true
		}
	}
	if IsTLSVerification(err) {
		e.Err = tlshint.Wrap("smtp", m.cfg.Address, e.Err)
		m.log.Error("smtp TLS certificate verification failed: check smtp.address, smtp.ca_file and smtp.tls_server_name; mail stays queued",
			"address", m.cfg.Address, "err", e.Err)
	}
	return e
}

func classifyTemporary(op string, err error) bool {
	switch op {
	case "mail", "rcpt", "data", "rset":
		// The server's verdict on this transaction: 5xx is final.
		if code := smtpCode(err); code != 0 {
			return code/100 != 5
		}
		return true
	}
	// Connecting, TLS, EHLO, AUTH: not this message's fault. A 5xx there
	// (535 bad password, 554 no service) is a configuration or server
	// problem that quarantining every reply would not fix; the message
	// waits, and Permanent/MaxAge ends the wait.
	return true
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}
