package poller

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"supportd/internal/testenv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

const (
	testUser = "support@vendor.test"
	testPass = "s3cret"
)

// testServer is an in-process imapserver + imapmemserver on 127.0.0.1.
type testServer struct {
	t    testing.TB
	mem  *imapmemserver.Server
	user *imapmemserver.User
	addr string
	caps imap.CapSet
	tls  *tls.Config // implicit TLS listener when set
	// startTLSConfig enables STARTTLS.
	startTLSConfig *tls.Config
	certs          *x509.CertPool
	// oauthToken, when set, makes the server accept only AUTHENTICATE
	// XOAUTH2 with this bearer token.
	oauthToken string
	oauthSeen  atomic.Int32
	// wrap, when set, wraps every session (a server feature the memserver
	// lacks).
	wrap func(imapserver.Session) imapserver.Session

	mu  sync.Mutex
	srv *imapserver.Server
	ln  net.Listener
}

type serverOpt func(*testServer)

func withCaps(caps ...imap.Cap) serverOpt {
	return func(ts *testServer) {
		ts.caps = imap.CapSet{}
		for _, c := range caps {
			ts.caps[c] = struct{}{}
		}
	}
}

func withTLS() serverOpt {
	return func(ts *testServer) { ts.tls, ts.certs = selfSigned(ts.t) }
}

func withStartTLS() serverOpt {
	return func(ts *testServer) { ts.startTLSConfig, ts.certs = selfSigned(ts.t) }
}

func withXOAUTH2(token string) serverOpt { return func(ts *testServer) { ts.oauthToken = token } }

func defaultCaps() imap.CapSet {
	return imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}, imap.CapNamespace: {}}
}

func newTestServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	ts := &testServer{t: t, mem: imapmemserver.New(), caps: defaultCaps()}
	ts.user = imapmemserver.NewUser(testUser, testPass)
	if err := ts.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	ts.mem.AddUser(ts.user)
	for _, o := range opts {
		o(ts)
	}
	ts.start("127.0.0.1:0")
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start(addr string) {
	ts.t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a restarted server may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		ts.t.Fatalf("listen %s: %v", addr, err)
	}
	if ts.tls != nil {
		ln = tls.NewListener(ln, ts.tls)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession:   ts.newSession,
		Caps:         ts.caps,
		InsecureAuth: true,
		TLSConfig:    ts.startTLSConfig,
		Logger:       log.New(io.Discard, "", 0),
	})
	ts.mu.Lock()
	ts.srv, ts.ln, ts.addr = srv, ln, ln.Addr().String()
	ts.mu.Unlock()
	go srv.Serve(ln)
}

func (ts *testServer) stop() {
	ts.mu.Lock()
	srv, ln := ts.srv, ts.ln
	ts.srv, ts.ln = nil, nil
	ts.mu.Unlock()
	if srv != nil {
		ln.Close() // Serve may not have registered it yet
		srv.Close()
	}
}

// restart closes every connection and listens again on the same address.
func (ts *testServer) restart() {
	ts.stop()
	ts.start(ts.addr)
}

func (ts *testServer) newSession(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	var inner imapserver.Session = ts.mem.NewSession()
	if ts.wrap != nil {
		inner = ts.wrap(inner)
	}
	if ts.oauthToken == "" {
		return inner, nil, nil
	}
	return &oauthSession{Session: inner, ts: ts}, nil, nil
}

// oauthSession accepts only AUTHENTICATE XOAUTH2 with ts.oauthToken.
type oauthSession struct {
	imapserver.Session
	ts *testServer
}

func (s *oauthSession) Login(string, string) error { return imapserver.ErrAuthFailed }

func (s *oauthSession) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s *oauthSession) Authenticate(mech string) (sasl.Server, error) {
	if mech != "XOAUTH2" {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "only XOAUTH2"}
	}
	return &xoauth2Server{check: func(user, token string) error {
		s.ts.oauthSeen.Add(1)
		if user != testUser || token != s.ts.oauthToken {
			return imapserver.ErrAuthFailed
		}
		return s.Session.Login(testUser, testPass) // binds the memserver user
	}}, nil
}

// xoauth2Server is the server side of XOAUTH2 as Gmail does it: a bad token
// gets a JSON error challenge, the client answers empty, then NO.
type xoauth2Server struct {
	check  func(user, token string) error
	failed error
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if s.failed != nil {
		return nil, false, s.failed
	}
	if resp == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	var user, token string
	for _, kv := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(kv, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
			token = v
		}
	}
	if err := s.check(user, token); err != nil {
		s.failed = err
		return []byte(`{"status":"401","schemes":"bearer"}`), false, nil
	}
	return nil, true, nil
}

// appendMsg stores a message directly in the in-memory mailbox.
func (ts *testServer) appendMsg(mailbox, body string, flags ...imap.Flag) uint32 {
	ts.t.Helper()
	data, err := ts.user.Append(mailbox, bytes.NewReader([]byte(body)), &imap.AppendOptions{Flags: flags})
	if err != nil {
		ts.t.Fatalf("append: %v", err)
	}
	return uint32(data.UID)
}

func testMessage(n int) string {
	return fmt.Sprintf("From: customer%d@acme.test\r\nTo: support@vendor.test\r\nSubject: help %d\r\nMessage-ID: <m%d@acme.test>\r\n\r\nBody of message %d.\r\n", n, n, n, n)
}

// client opens a second, independent client (what a human's mail client is).
func (ts *testServer) client() *imapclient.Client {
	ts.t.Helper()
	var c *imapclient.Client
	var err error
	if ts.tls != nil {
		c, err = imapclient.DialTLS(ts.addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: ts.certs}})
	} else {
		c, err = imapclient.DialInsecure(ts.addr, nil)
	}
	if err != nil {
		ts.t.Fatalf("second client: %v", err)
	}
	if err := c.Login(testUser, testPass).Wait(); err != nil {
		ts.t.Fatalf("second client login: %v", err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return c
}

// flagsOf returns the flags of every message of mailbox, by UID.
func (ts *testServer) flagsOf(mailbox string) map[uint32][]string {
	ts.t.Helper()
	c := ts.client()
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		ts.t.Fatalf("select %s: %v", mailbox, err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		ts.t.Fatalf("fetch flags: %v", err)
	}
	out := map[uint32][]string{}
	for _, m := range msgs {
		var fl []string
		for _, f := range m.Flags {
			fl = append(fl, strings.ToLower(string(f))) // memserver lowercases keywords
		}
		slices.Sort(fl)
		out[uint32(m.UID)] = fl
	}
	return out
}

func (ts *testServer) config(t testing.TB) Config {
	return Config{
		Address:          ts.addr,
		TLS:              TLSNone,
		Username:         testUser,
		Password:         testPass,
		Idle:             true,
		SpoolDir:         t.TempDir(),
		PollInterval:     time.Minute,
		WatchdogInterval: 5 * time.Second,
		BackoffMin:       20 * time.Millisecond,
		BackoffMax:       200 * time.Millisecond,
		Logger:           testLogger(t),
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// recHandler records batches; it reads and removes every spool file.
type recHandler struct {
	mu          sync.Mutex
	cp          map[uint32]uint32 // per UIDVALIDITY
	checkpoints []uint32          // UIDVALIDITY values asked for
	batches     [][]Fetched
	bodies      map[uint32]string
	delivered   chan Fetched
	marks       func(f Fetched) Mark
	delay       time.Duration // Handle sleeps this long
	entered     chan struct{} // if set, signalled when Handle starts
	failNext    int           // Handle fails this many times
	fails       int
	spoolSeen   []string
}

func newRecHandler() *recHandler {
	return &recHandler{cp: map[uint32]uint32{}, bodies: map[uint32]string{}, delivered: make(chan Fetched, 1000)}
}

func (h *recHandler) Checkpoint(mailbox string, uv uint32) (uint32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checkpoints = append(h.checkpoints, uv)
	return h.cp[uv], nil
}

func (h *recHandler) Handle(ctx context.Context, mb Mailbox, batch []Fetched) ([]Mark, error) {
	if h.entered != nil {
		select {
		case h.entered <- struct{}{}:
		default:
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	time.Sleep(h.delay)
	for _, f := range batch {
		if f.Path != "" {
			h.spoolSeen = append(h.spoolSeen, f.Path)
		}
	}
	if h.failNext > 0 {
		h.failNext--
		h.fails++
		return nil, errors.New("store is busy")
	}
	h.batches = append(h.batches, batch)
	var marks []Mark
	for _, f := range batch {
		if f.Path != "" {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				return nil, err
			}
			h.bodies[f.UID] = string(b)
			os.Remove(f.Path)
		}
		if h.marks != nil {
			marks = append(marks, h.marks(f))
		}
		h.cp[mb.UIDValidity] = f.UID
	}
	for _, f := range batch {
		h.delivered <- f
	}
	return marks, nil
}

// wait returns the next n delivered messages or fails after d.
func (h *recHandler) wait(t testing.TB, n int, d time.Duration) []Fetched {
	t.Helper()
	var out []Fetched
	timeout := time.After(d)
	for len(out) < n {
		select {
		case f := <-h.delivered:
			out = append(out, f)
		case <-timeout:
			t.Fatalf("got %d of %d messages within %v", len(out), n, d)
		}
	}
	return out
}

func (h *recHandler) body(uid uint32) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies[uid]
}

// runPoller starts p.Run and stops it at cleanup, checking it returns nil.
func runPoller(t testing.TB, cfg Config, h Handler) *Poller {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return within 10s of cancel")
		}
	})
	return p
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// cmdCounter wraps client connections (Config.Dial) and counts the IMAP
// commands the client writes, by command name (e.g. "UID FETCH", "IDLE").
type cmdCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

var cmdLine = regexp.MustCompile(`^[A-Za-z0-9]+ ((?:UID )?[A-Z]+)`)

func (cc *cmdCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c, cc: cc}, nil
}

func (cc *cmdCounter) count(name string) int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.counts[name]
}

type countConn struct {
	net.Conn
	cc  *cmdCounter
	buf []byte
}

func (c *countConn) Write(b []byte) (int, error) {
	c.buf = append(c.buf, b...)
	for {
		i := bytes.Index(c.buf, []byte("\r\n"))
		if i < 0 {
			break
		}
		if m := cmdLine.FindSubmatch(c.buf[:i]); m != nil {
			c.cc.mu.Lock()
			if c.cc.counts == nil {
				c.cc.counts = map[string]int{}
			}
			c.cc.counts[string(m[1])]++
			c.cc.mu.Unlock()
		}
		c.buf = c.buf[i+2:]
	}
	return c.Conn.Write(b)
}

// freezeProxy forwards TCP between the poller and the server; freeze stops
// forwarding on the current connections without closing them (a half-open
// connection as seen by the client). New connections flow normally.
type freezeProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	pairs  []*proxyPair
}

type proxyPair struct {
	frozen atomic.Bool
	a, b   net.Conn
}

func newFreezeProxy(t testing.TB, target string) *freezeProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezeProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, pp := range p.pairs {
			pp.frozen.Store(false)
			pp.a.Close()
			pp.b.Close()
		}
	})
	return p
}

func (p *freezeProxy) addr() string { return p.ln.Addr().String() }

func (p *freezeProxy) serve() {
	for {
		a, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			a.Close()
			continue
		}
		pp := &proxyPair{a: a, b: b}
		p.mu.Lock()
		p.pairs = append(p.pairs, pp)
		p.mu.Unlock()
		go pp.pipe(a, b)
		go pp.pipe(b, a)
	}
}

func (pp *proxyPair) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for pp.frozen.Load() {
			time.Sleep(10 * time.Millisecond) // hold the bytes, close nothing
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				src.Close()
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *freezeProxy) freeze() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		pp.frozen.Store(true)
	}
	return len(p.pairs)
}

// selfSigned returns a server TLS config for 127.0.0.1 and a pool trusting it.
func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	c := testenv.SelfSigned(t, "imap test")
	return c.ServerConfig(), c.Pool
}

// appendVia appends over IMAP (so other sessions see the EXISTS).
func appendVia(c *imapclient.Client, mailbox, msg string) error {
	cmd := c.Append(mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err := cmd.Wait()
	return err
}

// connectOnce opens one session the way Run does (New, then Connect).
func connectOnce(ctx context.Context, cfg Config) (*Conn, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return p.Connect(ctx)
}
