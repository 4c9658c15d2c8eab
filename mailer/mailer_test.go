package mailer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"
)

func newMailer(t testing.TB, cfg Config) *Mailer {
	t.Helper()
	if cfg.TLS == "" {
		cfg.TLS = TLSNone
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestNewValidates(t *testing.T) {
	_, pool := selfSigned(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = ok
	}{
		{"none on loopback ip", Config{Address: "127.0.0.1:25", TLS: TLSNone}, ""},
		{"none on ::1", Config{Address: "[::1]:25", TLS: TLSNone}, ""},
		{"none on localhost", Config{Address: "localhost:25", TLS: TLSNone}, ""},
		{"none on remote host", Config{Address: "smtp.vendor.test:25", TLS: TLSNone}, "smtp.tls"},
		{"none on private ip", Config{Address: "10.0.0.1:25", TLS: TLSNone}, "smtp.tls"},
		{"starttls remote", Config{Address: "smtp.vendor.test:587", TLS: TLSStartTLS}, ""},
		{"implicit remote", Config{Address: "smtp.vendor.test:465", TLS: TLSImplicit, TLSConfig: &tls.Config{RootCAs: pool}}, ""},
		{"missing tls", Config{Address: "smtp.vendor.test:587"}, "smtp.tls"},
		{"unknown tls", Config{Address: "smtp.vendor.test:587", TLS: "ssl"}, "smtp.tls"},
		{"insecure skip verify", Config{Address: "127.0.0.1:465", TLS: TLSImplicit, TLSConfig: &tls.Config{InsecureSkipVerify: true}}, "smtp.tls"},
		{"no port", Config{Address: "smtp.vendor.test", TLS: TLSStartTLS}, "smtp.address"},
		{"unknown mech", Config{Address: "smtp.vendor.test:587", TLS: TLSStartTLS, AuthMech: "CRAM-MD5"}, "smtp.auth_mech"},
		{"xoauth2 without tokens", Config{Address: "smtp.vendor.test:587", TLS: TLSStartTLS, AuthMech: "xoauth2"}, "smtp.auth_mech"},
		{"negative conns", Config{Address: "smtp.vendor.test:587", TLS: TLSStartTLS, MaxConns: -1}, "smtp.max_conns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if m.cfg.MaxConns != DefaultMaxConns || m.cfg.DataTimeout != DefaultDataTimeout {
					t.Errorf("defaults not applied: %+v", m.cfg)
				}
				m.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestSendDeliversExactBytes(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	m := newMailer(t, Config{Address: addr})

	data := testMessage("exact-1@vendor.test")
	e := Envelope{From: "support@vendor.test", To: []string{"alice@customer.test", "sales@vendor.test"}, Data: data, MessageID: "exact-1@vendor.test"}
	if err := m.Send(context.Background(), e); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := be.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if !bytes.Equal(got.Data, data) {
		t.Errorf("data differs:\n got %q\nwant %q", got.Data, data)
	}
	if got.From != e.From || strings.Join(got.To, ",") != "alice@customer.test,sales@vendor.test" {
		t.Errorf("envelope = %q -> %q", got.From, got.To)
	}
	if be.Sessions() != 1 {
		t.Errorf("sessions = %d, want 1", be.Sessions())
	}
}

func TestSendBatchReusesConnections(t *testing.T) {
	for _, conns := range []int{1, 3} {
		t.Run(fmt.Sprintf("max_conns=%d", conns), func(t *testing.T) {
			be := &backend{}
			addr := startServer(t, be, serverOpts{})
			m := newMailer(t, Config{Address: addr, MaxConns: conns})
			var es []Envelope
			for i := range 30 {
				es = append(es, testEnvelope(fmt.Sprintf("batch-%d@vendor.test", i)))
			}
			for i, err := range m.SendBatch(context.Background(), es) {
				if err != nil {
					t.Errorf("envelope %d: %v", i, err)
				}
			}
			if s := be.Sessions(); s < 1 || s > conns {
				t.Errorf("sessions = %d, want 1..%d", s, conns)
			}
			seen := map[string]int{}
			for _, msg := range be.Messages() {
				seen[string(msg.Data)]++
			}
			for _, e := range es {
				if seen[string(e.Data)] != 1 {
					t.Errorf("%s delivered %d times", e.MessageID, seen[string(e.Data)])
				}
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		be        *backend
		wantOp    string
		permanent bool
		wantText  string
	}{
		{"550 on rcpt", &backend{onRcpt: func(_ int, to string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
		}}, "rcpt", true, "smtp rcpt <alice@customer.test>: 550 5.1.1 user unknown"},
		{"451 on rcpt", &backend{onRcpt: func(_ int, to string) error {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}}, "rcpt", false, "451 4.3.0 try later"},
		{"553 on mail", &backend{onMail: func(_, _ int, _ string) error {
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "sender not allowed"}
		}}, "mail", false, "553 5.7.1 sender not allowed"}, // a policy refusal of our sender: kept queued (TestPolicyRefusals)
		{"554 on data", &backend{onData: func(int, []byte) error {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}
		}}, "data", true, "554 5.6.0 content rejected"},
		{"452 on data", &backend{onData: func(int, []byte) error {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "mailbox full"}
		}}, "data", false, "452 4.3.1 mailbox full"},
		{"535 on auth is not the message's fault", &backend{mechs: []string{"PLAIN"}, plainOK: func(string, string) bool { return false }}, "auth", false, "bad credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.be.mechs == nil {
				tt.be.mechs = []string{"PLAIN"}
				tt.be.plainOK = func(u, p string) bool { return u == "u" && p == "p" }
			}
			addr := startServer(t, tt.be, serverOpts{insecure: true})
			m := newMailer(t, Config{Address: addr, Username: "u", Password: "p"})
			err := m.Send(context.Background(), testEnvelope("class@vendor.test"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not carry %q", err, tt.wantText)
			}
			wrapped := fmt.Errorf("outbox item 7: %w", err)
			if IsPermanent(wrapped) != tt.permanent || IsTemporary(wrapped) == tt.permanent {
				t.Errorf("IsPermanent=%v IsTemporary=%v, want permanent=%v", IsPermanent(wrapped), IsTemporary(wrapped), tt.permanent)
			}
			var e *Error
			if !errors.As(wrapped, &e) || e.Op != tt.wantOp {
				t.Errorf("op = %+v, want %s", e, tt.wantOp)
			}
			if tt.wantOp != "auth" {
				var se *smtp.SMTPError
				if !errors.As(wrapped, &se) {
					t.Errorf("no *smtp.SMTPError in %v", err)
				}
			}
			if n := len(tt.be.Messages()); n != 0 {
				t.Errorf("server stored %d messages", n)
			}
		})
	}
}

func TestBareSMTPErrorClassification(t *testing.T) {
	for _, tt := range []struct {
		err        error
		perm, temp bool
	}{
		{nil, false, false},
		{&smtp.SMTPError{Code: 550}, true, false},
		{fmt.Errorf("x: %w", &smtp.SMTPError{Code: 421}), false, true},
		{errors.New("connection reset"), false, true},
		{&Error{Op: "envelope", Err: errors.New("bad")}, true, false},
	} {
		if IsPermanent(tt.err) != tt.perm || IsTemporary(tt.err) != tt.temp {
			t.Errorf("%v: permanent=%v temporary=%v, want %v %v", tt.err, IsPermanent(tt.err), IsTemporary(tt.err), tt.perm, tt.temp)
		}
	}
}

// One refused recipient aborts the whole envelope (nothing is sent to the
// others, so a retry cannot duplicate), and the session goes on after RSET.
func TestRefusedRecipientAbortsEnvelopeAndSessionContinues(t *testing.T) {
	be := &backend{onRcpt: func(_ int, to string) error {
		if to == "gone@customer.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
		}
		return nil
	}}
	addr := startServer(t, be, serverOpts{})
	m := newMailer(t, Config{Address: addr, MaxConns: 1})
	bad := testEnvelope("bad@vendor.test")
	bad.To = []string{"alice@customer.test", "gone@customer.test"}
	errs := m.SendBatch(context.Background(), []Envelope{bad, testEnvelope("good@vendor.test")})
	if !IsPermanent(errs[0]) || !strings.Contains(errs[0].Error(), "gone@customer.test") {
		t.Errorf("errs[0] = %v, want permanent naming the recipient", errs[0])
	}
	if errs[1] != nil {
		t.Errorf("errs[1] = %v", errs[1])
	}
	msgs := be.Messages()
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte("good@vendor.test")) {
		t.Errorf("server stored %d messages, want only the good one", len(msgs))
	}
	if be.Sessions() != 1 {
		t.Errorf("sessions = %d, want 1 (RSET, not reconnect)", be.Sessions())
	}
}

// The server answers 421 and closes the connection (go-smtp does so when a
// handler panics): a reused session is replaced and the envelope retried;
// on a fresh session the 421 is the envelope's temporary error.
func TestReconnectAfter421(t *testing.T) {
	t.Run("reused session", func(t *testing.T) {
		be := &backend{onMail: func(session, tx int, _ string) error {
			if session == 1 && tx == 2 {
				panic("shutting down") // -> "421 4.0.0 Internal server error" + close
			}
			return nil
		}}
		addr := startServer(t, be, serverOpts{})
		m := newMailer(t, Config{Address: addr, MaxConns: 1})
		es := []Envelope{testEnvelope("r1@vendor.test"), testEnvelope("r2@vendor.test"), testEnvelope("r3@vendor.test")}
		for i, err := range m.SendBatch(context.Background(), es) {
			if err != nil {
				t.Errorf("envelope %d: %v", i, err)
			}
		}
		if n := len(be.Messages()); n != 3 {
			t.Errorf("delivered %d, want 3", n)
		}
		if s := be.Sessions(); s != 2 {
			t.Errorf("sessions = %d, want 2", s)
		}
	})
	t.Run("fresh session", func(t *testing.T) {
		be := &backend{onMail: func(session, tx int, _ string) error {
			if session == 1 {
				panic("shutting down")
			}
			return nil
		}}
		addr := startServer(t, be, serverOpts{})
		m := newMailer(t, Config{Address: addr, MaxConns: 1})
		errs := m.SendBatch(context.Background(), []Envelope{testEnvelope("f1@vendor.test"), testEnvelope("f2@vendor.test")})
		if !IsTemporary(errs[0]) || !strings.Contains(errs[0].Error(), "421") {
			t.Errorf("errs[0] = %v, want temporary 421", errs[0])
		}
		if errs[1] != nil {
			t.Errorf("errs[1] = %v, want delivery on a new session", errs[1])
		}
		if s := be.Sessions(); s != 2 {
			t.Errorf("sessions = %d, want 2", s)
		}
	})
}

func TestAuthMechanismChoice(t *testing.T) {
	for _, tt := range []struct {
		offered []string
		force   string
		want    string
	}{
		{[]string{"PLAIN", "LOGIN"}, "", "PLAIN"},
		{[]string{"LOGIN"}, "", "LOGIN"}, // Office 365
		{[]string{"PLAIN", "LOGIN"}, "login", "LOGIN"},
	} {
		t.Run(strings.Join(tt.offered, "+")+"/"+tt.force, func(t *testing.T) {
			be := &backend{mechs: tt.offered, requireAuth: true, plainOK: func(u, p string) bool { return u == "bob" && p == "s3cret" }}
			addr := startServer(t, be, serverOpts{insecure: true})
			m := newMailer(t, Config{Address: addr, Username: "bob", Password: "s3cret", AuthMech: tt.force})
			if err := m.Send(context.Background(), testEnvelope("auth@vendor.test")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if msgs := be.Messages(); len(msgs) != 1 || msgs[0].Mech != tt.want {
				t.Errorf("messages %+v, want one sent after AUTH %s", msgs, tt.want)
			}
		})
	}
}

// XOAUTH2 with a token source whose token has expired: the source refreshes
// it at a loopback token endpoint before the connection, and the server
// accepts only the refreshed token.
func TestXOAuth2RefreshesExpiredToken(t *testing.T) {
	var refreshes atomic.Int32
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "refresh-1" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		refreshes.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "good-token", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokenSrv.Close)
	oc := &oauth2.Config{ClientID: "supportd", ClientSecret: "x", Endpoint: oauth2.Endpoint{TokenURL: tokenSrv.URL, AuthStyle: oauth2.AuthStyleInParams}}
	expired := &oauth2.Token{AccessToken: "stale-token", RefreshToken: "refresh-1", Expiry: time.Now().Add(-time.Hour)}
	// tokenSrv.Client(): its Close then also drops the keep-alive connection.
	ts := oc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, tokenSrv.Client()), expired)

	var seen []string
	var mu sync.Mutex
	be := &backend{mechs: []string{"PLAIN", AuthXOAUTH2}, requireAuth: true, xoauthOK: func(user, token string) bool {
		mu.Lock()
		seen = append(seen, token)
		mu.Unlock()
		return user == "support@vendor.test" && token == "good-token"
	}}
	addr := startServer(t, be, serverOpts{insecure: true})
	m := newMailer(t, Config{Address: addr, Username: "support@vendor.test", TokenSource: ts, IdleTimeout: -1})
	for i := range 2 {
		if err := m.Send(context.Background(), testEnvelope(fmt.Sprintf("oauth-%d@vendor.test", i))); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if got := refreshes.Load(); got != 1 {
		t.Errorf("token refreshes = %d, want 1 (then reused until expiry)", got)
	}
	msgs := be.Messages()
	if len(msgs) != 2 || msgs[0].Mech != AuthXOAUTH2 {
		t.Errorf("messages = %+v", msgs)
	}
	mu.Lock()
	if strings.Join(seen, ",") != "good-token,good-token" {
		t.Errorf("server saw tokens %q", seen)
	}
	mu.Unlock()

	// A token the server refuses: temporary, and nothing is sent.
	bad := newMailer(t, Config{Address: addr, Username: "support@vendor.test",
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "revoked"})})
	err := bad.Send(context.Background(), testEnvelope("oauth-bad@vendor.test"))
	var e *Error
	if !errors.As(err, &e) || e.Op != "auth" || !IsTemporary(err) {
		t.Errorf("refused token: err = %v, want temporary auth error", err)
	}
	if len(be.Messages()) != 2 {
		t.Error("a message was delivered without authentication")
	}
}

func TestOAuthBearerWhenOnlyOffered(t *testing.T) {
	be := &backend{mechs: []string{AuthOAuthBearer}, requireAuth: true, xoauthOK: func(user, token string) bool {
		return user == "support@vendor.test" && token == "good-token"
	}}
	addr := startServer(t, be, serverOpts{insecure: true})
	m := newMailer(t, Config{Address: addr, Username: "support@vendor.test", TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "good-token"})})
	if err := m.Send(context.Background(), testEnvelope("bearer@vendor.test")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if msgs := be.Messages(); len(msgs) != 1 || msgs[0].Mech != AuthOAuthBearer {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestTokenSourceFailure(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{insecure: true})
	m := newMailer(t, Config{Address: addr, Username: "u", TokenSource: failingTokens{}})
	err := m.Send(context.Background(), testEnvelope("tok@vendor.test"))
	var e *Error
	if !errors.As(err, &e) || e.Op != "token" || !IsTemporary(err) {
		t.Errorf("err = %v, want temporary token error", err)
	}
	if be.Sessions() != 0 {
		t.Errorf("connected without a token (%d sessions)", be.Sessions())
	}
}

type failingTokens struct{}

func (failingTokens) Token() (*oauth2.Token, error) {
	return nil, errors.New("oauth2: invalid_grant: refresh token expired")
}

func TestTLS(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			be := &backend{mechs: []string{"PLAIN"}, requireAuth: true, plainOK: func(u, p string) bool { return u == "bob" && p == "pw" }}
			o := serverOpts{startTLS: srvTLS}
			if mode == TLSImplicit {
				o = serverOpts{implicitTLS: srvTLS}
			}
			addr := startServer(t, be, o)

			untrusting := newMailer(t, Config{Address: addr, TLS: mode, Username: "bob", Password: "pw"})
			err := untrusting.Send(context.Background(), testEnvelope("tls-refused@vendor.test"))
			if err == nil {
				t.Fatal("self-signed certificate accepted without RootCAs")
			}
			if !IsTLSVerification(err) || !IsTemporary(err) {
				t.Errorf("err = %v: IsTLSVerification=%v IsTemporary=%v, want both", err, IsTLSVerification(err), IsTemporary(err))
			}
			if len(be.Messages()) != 0 {
				t.Fatal("message delivered over an unverified connection")
			}

			trusting := newMailer(t, Config{Address: addr, TLS: mode, Username: "bob", Password: "pw", TLSConfig: &tls.Config{RootCAs: pool}})
			if err := trusting.Send(context.Background(), testEnvelope("tls-ok@vendor.test")); err != nil {
				t.Fatalf("Send with RootCAs: %v", err)
			}
			msgs := be.Messages()
			if len(msgs) != 1 || !msgs[0].TLS || msgs[0].Mech != "PLAIN" {
				t.Errorf("messages = %+v, want one over TLS after AUTH PLAIN", msgs)
			}
		})
	}
	t.Run("starttls not offered", func(t *testing.T) {
		be := &backend{}
		addr := startServer(t, be, serverOpts{})
		m := newMailer(t, Config{Address: addr, TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: pool}})
		err := m.Send(context.Background(), testEnvelope("nostarttls@vendor.test"))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") || !IsTemporary(err) {
			t.Errorf("err = %v, want temporary STARTTLS error", err)
		}
		if len(be.Messages()) != 0 {
			t.Error("message sent in clear text although starttls was required")
		}
	})
}

// A server that never answers after DATA: cancelling ctx stops Send at once
// (the DataTimeout is far away), and DataTimeout alone stops it too.
func TestHangingDataHonoursContextAndDeadline(t *testing.T) {
	release := make(chan struct{})
	be := &backend{onData: func(int, []byte) error { <-release; return nil }}
	addr := startServer(t, be, serverOpts{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close

	t.Run("context", func(t *testing.T) {
		m := newMailer(t, Config{Address: addr, DataTimeout: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := m.Send(ctx, testEnvelope("hang-ctx@vendor.test"))
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Send returned after %v", el)
		}
		var e *Error
		if !errors.Is(err, context.DeadlineExceeded) || !IsTemporary(err) || !errors.As(err, &e) || !e.MaybeDelivered {
			t.Errorf("err = %v (%+v), want temporary, deadline exceeded, maybe delivered", err, e)
		}
	})
	t.Run("data timeout", func(t *testing.T) {
		m := newMailer(t, Config{Address: addr, DataTimeout: 300 * time.Millisecond})
		start := time.Now()
		err := m.Send(context.Background(), testEnvelope("hang-timeout@vendor.test"))
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("Send returned after %v", el)
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !IsTemporary(err) {
			t.Errorf("err = %v, want a temporary timeout", err)
		}
	})
}

// A peer that accepts TCP and says nothing: CommandTimeout bounds the wait
// for the greeting, for starttls too (go-smtp's own default is 5 minutes).
func TestSilentServerCommandTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { l.Close(); conns.Wait() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() { defer conns.Done(); defer c.Close(); c.Read(make([]byte, 1)) }()
		}
	}()
	for _, mode := range []string{TLSNone, TLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			m := newMailer(t, Config{Address: l.Addr().String(), TLS: mode, CommandTimeout: 200 * time.Millisecond})
			start := time.Now()
			err := m.Send(context.Background(), testEnvelope("silent@vendor.test"))
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("Send returned after %v", el)
			}
			if err == nil || !IsTemporary(err) {
				t.Errorf("err = %v, want temporary", err)
			}
		})
	}
}

func TestUnreachableServerFailsWholeBatch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	m := newMailer(t, Config{Address: addr, MaxConns: 2})
	errs := m.SendBatch(context.Background(), []Envelope{testEnvelope("u1@x.test"), testEnvelope("u2@x.test"), testEnvelope("u3@x.test")})
	for i, err := range errs {
		var e *Error
		if !errors.As(err, &e) || e.Op != "dial" || !IsTemporary(err) {
			t.Errorf("envelope %d: %v, want temporary dial error", i, err)
		}
	}
}

func TestEnvelopeAndSizeErrorsArePermanent(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{maxBytes: 100})
	m := newMailer(t, Config{Address: addr, MaxConns: 1})
	big := testEnvelope("big@vendor.test")
	big.Data = append(big.Data, bytes.Repeat([]byte("x"), 200)...)
	injected := testEnvelope("inj@vendor.test")
	injected.To = []string{"alice@customer.test>\r\nRCPT TO:<evil@x.test"}
	noRcpt := testEnvelope("none@vendor.test")
	noRcpt.To = nil
	small := Envelope{From: "", To: []string{"a@b.test"}, Data: []byte("Subject: s\r\n\r\nx\r\n")} // null reverse-path is valid
	errs := m.SendBatch(context.Background(), []Envelope{big, injected, noRcpt, small})
	for i, op := range []string{"size", "envelope", "envelope"} {
		var e *Error
		if !IsPermanent(errs[i]) || !errors.As(errs[i], &e) || e.Op != op {
			t.Errorf("envelope %d: %v, want permanent %s error", i, errs[i], op)
		}
	}
	if errs[3] != nil {
		t.Errorf("small envelope: %v", errs[3])
	}
	if n := len(be.Messages()); n != 1 {
		t.Errorf("server stored %d messages, want 1", n)
	}
}

func TestClosedMailer(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	m := newMailer(t, Config{Address: addr})
	m.Close()
	err := m.Send(context.Background(), testEnvelope("closed@vendor.test"))
	if !errors.Is(err, ErrClosed) || !IsTemporary(err) {
		t.Errorf("err = %v, want temporary ErrClosed", err)
	}
	if be.Sessions() != 0 {
		t.Error("closed mailer connected")
	}
}

// Close aborts a send stuck on a silent server and waits for it.
func TestCloseAbortsInflight(t *testing.T) {
	release := make(chan struct{})
	be := &backend{onData: func(int, []byte) error { <-release; return nil }}
	addr := startServer(t, be, serverOpts{})
	t.Cleanup(func() { close(release) })
	m := newMailer(t, Config{Address: addr, DataTimeout: time.Hour})
	got := make(chan error, 1)
	go func() { got <- m.Send(context.Background(), testEnvelope("inflight@vendor.test")) }()
	time.Sleep(200 * time.Millisecond)
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case err := <-got:
		if !IsTemporary(err) {
			t.Errorf("err = %v, want temporary", err)
		}
	default:
		t.Error("Close returned before the in-flight Send")
	}
}

func TestDialHook(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	var dials atomic.Int32
	m := newMailer(t, Config{Address: "localhost:1", Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if err := m.Send(context.Background(), testEnvelope("hook@vendor.test")); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 1 || len(be.Messages()) != 1 {
		t.Errorf("dials=%d messages=%d", dials.Load(), len(be.Messages()))
	}
}

func BenchmarkSendBatch(b *testing.B) {
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			be := &backend{}
			addr := startServer(b, be, serverOpts{})
			m := newMailer(b, Config{Address: addr, MaxConns: conns})
			const batch = 100
			es := make([]Envelope, batch)
			for i := range es {
				es[i] = testEnvelope(fmt.Sprintf("bench-%d@vendor.test", i))
			}
			b.ResetTimer()
			for b.Loop() {
				for _, err := range m.SendBatch(context.Background(), es) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// A submission server that checks HELO (Postfix reject_non_fqdn_helo_hostname)
// rejects "localhost" and accepts smtp.helo_name; the default is the
// machine's name (HostFQDN), never "localhost" when the machine has an FQDN.
func TestHeloName(t *testing.T) {
	be := &backend{onHelo: func(name string) error {
		if !strings.Contains(name, ".") || strings.EqualFold(name, "localhost") {
			return &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "<" + name + ">: Helo command rejected: need fully-qualified hostname"}
		}
		return nil
	}}
	addr := startServer(t, be, serverOpts{})
	m := newMailer(t, Config{Address: addr, HeloName: "mail.vendor.test"})
	if err := m.Send(context.Background(), testEnvelope("helo-1@vendor.test")); err != nil {
		t.Fatalf("with smtp.helo_name mail.vendor.test: %v", err)
	}
	m = newMailer(t, Config{Address: addr, HeloName: "localhost"})
	err := m.Send(context.Background(), testEnvelope("helo-2@vendor.test"))
	if err == nil || !strings.Contains(err.Error(), "Helo command rejected") {
		t.Fatalf("EHLO localhost: %v, want the server's HELO rejection", err)
	}
	m = newMailer(t, Config{Address: addr})
	_ = m.Send(context.Background(), testEnvelope("helo-3@vendor.test"))
	be.mu.Lock()
	last := be.helos[len(be.helos)-1]
	be.mu.Unlock()
	if last != HostFQDN() || last == "" {
		t.Errorf("default EHLO name %q, want HostFQDN() %q", last, HostFQDN())
	}
}

// A refusal of our sender (5xx to MAIL FROM, 5.7.x: Postfix
// reject_sender_login_mismatch answers "553 5.7.1" at RCPT) is a
// configuration fault: temporary, marked Policy. So is a refusal of our EHLO
// name, at whatever step the server says it (Postfix under its default
// smtpd_delay_reject = yes: at RCPT TO), which names smtp.helo_name. A
// per-recipient refusal (550 5.1.1 unknown user) stays permanent, also when
// the address looks like the word HELO.
func TestPolicyRefusals(t *testing.T) {
	cases := []struct {
		name                    string
		be                      *backend
		policy, permanent, helo bool
	}{
		{"504 5.5.2 Helo command rejected at rcpt", &backend{onRcpt: func(int, string) error {
			return &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "<localhost>: Helo command rejected: need fully-qualified hostname"}
		}}, true, false, true},
		{"550 Bad HELO at data", &backend{onData: func(int, []byte) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "Bad HELO - Host impersonating domain name"}
		}}, true, false, true},
		{"550 5.1.1 <HELO@…> at rcpt", &backend{onRcpt: func(int, string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<HELO@customer.test>: Recipient address rejected: User unknown"}
		}}, false, true, false},
		{"553 5.7.1 at rcpt", &backend{onRcpt: func(int, string) error {
			return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "<support@vendor.test>: Sender address rejected: not owned by user mailer@vendor.test"}
		}}, true, false, false},
		{"550 at mail", &backend{onMail: func(int, int, string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 8}, Message: "bad sender domain"}
		}}, true, false, false},
		{"550 5.1.1 at rcpt", &backend{onRcpt: func(int, string) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
		}}, false, true, false},
		{"451 at mail", &backend{onMail: func(int, int, string) error {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "later"}
		}}, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMailer(t, Config{Address: startServer(t, c.be, serverOpts{}), HeloName: "localhost"})
			err := m.Send(context.Background(), testEnvelope("policy@vendor.test"))
			if IsPolicy(err) != c.policy || IsPermanent(err) != c.permanent {
				t.Errorf("%v: IsPolicy=%v IsPermanent=%v, want %v %v", err, IsPolicy(err), IsPermanent(err), c.policy, c.permanent)
			}
			if named := strings.Contains(fmt.Sprint(err), "smtp.helo_name"); (RefusedHELO(err) == "localhost") != c.helo || named != c.helo {
				t.Errorf("%v: RefusedHELO=%q, names smtp.helo_name: %v; want a HELO refusal: %v", err, RefusedHELO(err), named, c.helo)
			}
		})
	}
}

// The wording that marks a refusal of our EHLO name, and texts that must not.
func TestHELORefusalWording(t *testing.T) {
	for text, want := range map[string]bool{
		"<localhost>: Helo command rejected: need fully-qualified hostname": true, // Postfix reject_non_fqdn_helo_hostname
		"<a_b>: Helo command rejected: Invalid name":                        true, // Postfix reject_invalid_helo_hostname
		"Syntactically invalid HELO argument(s)":                            true, // Exim
		"HELO/EHLO must contain a FQDN":                                     true, // Exim ACL
		"Bad HELO.":                                                         true, // a sentence's full stop
		"EHLO name localhost not allowed":                                   true,
		"<HELO@customer.test>: Recipient address rejected: User unknown":    false, // an address
		"<alice@HELO.customer.test>: Recipient address rejected":            false,
		"Hello there, mailbox unavailable":                                  false,
		"helo is a word we do not match in lower case":                      false,
		"Message rejected: SHELOB detected":                                 false,
	} {
		if got := heloRefused(text); got != want {
			t.Errorf("heloRefused(%q) = %v, want %v", text, got, want)
		}
	}
}

// Sessions outlive a batch: the next batch within IdleTimeout reuses them
// (no new connection, EHLO, TLS, AUTH); after it they are closed; a session
// the server dropped meanwhile is replaced without losing the envelope.
func TestSessionsReusedAcrossBatches(t *testing.T) {
	be := &backend{}
	addr := startServer(t, be, serverOpts{})
	m := newMailer(t, Config{Address: addr, MaxConns: 1, IdleTimeout: 300 * time.Millisecond})
	for i := range 3 {
		if err := m.Send(context.Background(), testEnvelope(fmt.Sprintf("reuse-%d@vendor.test", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := be.Sessions(); n != 1 {
		t.Fatalf("3 sends within IdleTimeout used %d sessions, want 1", n)
	}
	time.Sleep(600 * time.Millisecond) // past IdleTimeout: QUIT
	if err := m.Send(context.Background(), testEnvelope("reuse-late@vendor.test")); err != nil {
		t.Fatal(err)
	}
	if n := be.Sessions(); n != 2 {
		t.Fatalf("a send after IdleTimeout: %d sessions, want 2", n)
	}
	// The server drops the idle session: the next send reconnects and delivers.
	var drop atomic.Bool
	be.onMail = func(session, tx int, from string) error {
		if session == 2 && drop.Load() {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "idle too long"}
		}
		return nil
	}
	drop.Store(true)
	if err := m.Send(context.Background(), testEnvelope("reuse-dropped@vendor.test")); err != nil {
		t.Fatalf("send on a dropped idle session: %v", err)
	}
	if n := len(be.Messages()); n != 5 {
		t.Fatalf("server holds %d messages, want 5", n)
	}
}

// A submission server that dies right after STARTTLS (Postfix smtpd without its
// SASL backend) is not reported as a TLS problem.
func TestServerDyingAfterStartTLSIsNotATLSError(t *testing.T) {
	srvTLS, pool := selfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				fmt.Fprintf(c, "220 mx ESMTP\r\n")
				r.ReadString('\n') // EHLO
				fmt.Fprintf(c, "250-mx\r\n250 STARTTLS\r\n")
				r.ReadString('\n') // STARTTLS
				fmt.Fprintf(c, "220 go ahead\r\n")
				tc := tls.Server(c, srvTLS)
				if tc.Handshake() == nil {
					bufio.NewReader(tc).ReadString('\n') // EHLO, then "fatal: no SASL authentication mechanisms"
				}
			}()
		}
	}()
	m := newMailer(t, Config{Address: l.Addr().String(), TLS: TLSStartTLS, TLSConfig: &tls.Config{RootCAs: pool}, HeloName: "mail.vendor.test"})
	err = m.Send(context.Background(), testEnvelope("sasl@vendor.test"))
	var e *Error
	if !errors.As(err, &e) || e.Op != "ehlo" || IsTLSVerification(err) || !strings.Contains(err.Error(), "server-side failure") || !IsTemporary(err) {
		t.Fatalf("server gone after STARTTLS: %v (op %v), want a temporary ehlo error saying it is the server's", err, e)
	}
}

// SendBatchRecorded: the next message on a session is not accepted (its final
// "." is held back) until the previous acceptance is recorded, and the batch
// does not end before the last record: at most one accepted, unrecorded
// message per session.
func TestSendBatchRecordedHoldsTheDot(t *testing.T) {
	var mu sync.Mutex
	var accepted []time.Time
	be := &backend{onData: func(int, []byte) error {
		mu.Lock()
		accepted = append(accepted, time.Now())
		mu.Unlock()
		return nil
	}}
	m := newMailer(t, Config{Address: startServer(t, be, serverOpts{}), MaxConns: 1})
	es := []Envelope{testEnvelope("r1@vendor.test"), testEnvelope("r2@vendor.test"), testEnvelope("r3@vendor.test")}
	const recordTime = 150 * time.Millisecond
	var recordedAt []time.Time
	errs := m.SendBatchRecorded(context.Background(), es, func(i int, err error) <-chan struct{} {
		done := make(chan struct{})
		time.AfterFunc(recordTime, func() {
			mu.Lock()
			recordedAt = append(recordedAt, time.Now())
			mu.Unlock()
			close(done)
		})
		return done
	})
	end := time.Now()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != 3 || len(recordedAt) != 3 {
		t.Fatalf("accepted %d, recorded %d", len(accepted), len(recordedAt))
	}
	for i := 1; i < 3; i++ {
		if accepted[i].Before(recordedAt[i-1]) {
			t.Errorf("message %d accepted %v before message %d was recorded", i+1, recordedAt[i-1].Sub(accepted[i]), i)
		}
	}
	if end.Before(recordedAt[2]) {
		t.Error("the batch returned before its last acceptance was recorded")
	}
}
