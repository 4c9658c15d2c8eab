package mailer

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"supportd/internal/testenv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// recorded is one message accepted by the test server.
type recorded struct {
	Session int
	From    string
	To      []string
	Data    []byte
	TLS     bool
	Mech    string // SASL mechanism used, "" if none
}

// backend is a recording go-smtp Backend whose behaviour tests steer with
// hooks. Session numbers start at 1; transaction numbers (tx) count MAIL
// commands per session, from 1.
type backend struct {
	mu       sync.Mutex
	sessions int
	msgs     []recorded

	mechs       []string // advertised AUTH mechanisms
	requireAuth bool
	plainOK     func(user, pass string) bool
	xoauthOK    func(user, token string) bool

	onHelo func(name string) error // EHLO/HELO check (a HELO-checking server)
	helos  []string
	onMail func(session, tx int, from string) error
	onRcpt func(session int, to string) error
	onData func(session int, data []byte) error
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.helos = append(b.helos, c.Hostname())
	if b.onHelo != nil {
		if err := b.onHelo(c.Hostname()); err != nil {
			return nil, err
		}
	}
	b.sessions++
	_, isTLS := c.TLSConnectionState()
	return &session_{b: b, id: b.sessions, tls: isTLS}, nil
}

func (b *backend) Sessions() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions
}

func (b *backend) Messages() []recorded {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]recorded(nil), b.msgs...)
}

type session_ struct {
	b    *backend
	id   int
	tx   int
	tls  bool
	mech string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session_)(nil)

func (s *session_) AuthMechanisms() []string { return s.b.mechs }

func (s *session_) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error {
			if s.b.plainOK == nil || !s.b.plainOK(user, pass) {
				return errors.New("bad credentials")
			}
			s.mech = mech
			return nil
		}), nil
	case sasl.Login:
		return &loginServer{check: func(user, pass string) error {
			if s.b.plainOK == nil || !s.b.plainOK(user, pass) {
				return errors.New("bad credentials")
			}
			s.mech = mech
			return nil
		}}, nil
	case AuthXOAUTH2:
		return &xoauth2Server{check: func(user, token string) error {
			if s.b.xoauthOK == nil || !s.b.xoauthOK(user, token) {
				return errors.New("invalid token")
			}
			s.mech = mech
			return nil
		}}, nil
	case sasl.OAuthBearer:
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if s.b.xoauthOK == nil || !s.b.xoauthOK(o.Username, o.Token) {
				return &sasl.OAuthBearerError{Status: "invalid_token"}
			}
			s.mech = mech
			return nil
		}), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session_) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.requireAuth && s.mech == "" {
		return smtp.ErrAuthRequired
	}
	s.tx++
	if s.b.onMail != nil {
		if err := s.b.onMail(s.id, s.tx, from); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session_) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.onRcpt != nil {
		if err := s.b.onRcpt(s.id, to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session_) Data(r io.Reader) error {
	data, err := io.ReadAll(r) // test server: input is our own
	if err != nil {
		return err
	}
	if s.b.onData != nil {
		if err := s.b.onData(s.id, data); err != nil {
			return err
		}
	}
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, recorded{Session: s.id, From: s.from, To: s.to, Data: data, TLS: s.tls, Mech: s.mech})
	s.b.mu.Unlock()
	return nil
}

func (s *session_) Reset()        { s.from, s.to = "", nil }
func (s *session_) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN as go-sasl's client speaks
// it: the username comes as initial response, then "Password:".
type loginServer struct {
	check func(user, pass string) error
	user  []byte
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		l.user, l.step = resp, 2
		return []byte("Password:"), false, nil
	case 1:
		l.user, l.step = resp, 2
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(string(l.user), string(resp))
	}
}

// xoauth2Server parses "user=U\x01auth=Bearer T\x01\x01".
type xoauth2Server struct {
	check func(user, token string) error
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, kv := range strings.Split(string(resp), "\x01") {
		switch {
		case strings.HasPrefix(kv, "user="):
			user = strings.TrimPrefix(kv, "user=")
		case strings.HasPrefix(kv, "auth=Bearer "):
			token = strings.TrimPrefix(kv, "auth=Bearer ")
		}
	}
	if user == "" || token == "" {
		return nil, false, errors.New("malformed XOAUTH2 response")
	}
	return nil, true, x.check(user, token)
}

type serverOpts struct {
	startTLS    *tls.Config // offered via STARTTLS
	implicitTLS *tls.Config // TLS listener
	maxBytes    int64
	insecure    bool // AllowInsecureAuth
}

// startServer runs a go-smtp server with be on 127.0.0.1:0 and returns its
// address; it is closed when the test ends.
func startServer(t testing.TB, be *backend, o serverOpts) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = o.insecure
	s.MaxMessageBytes = o.maxBytes
	s.TLSConfig = o.startTLS
	s.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS != nil {
		l = tls.NewListener(l, o.implicitTLS)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	// Close also l: Server.Close misses a listener Serve has not registered yet.
	t.Cleanup(func() { s.Close(); l.Close(); <-done })
	return l.Addr().String()
}

// selfSigned returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and localhost, and a pool trusting it.
func selfSigned(t testing.TB) (*tls.Config, *x509.CertPool) {
	c := testenv.SelfSigned(t, "supportd test")
	return c.ServerConfig(), c.Pool
}

// testMessage returns a small valid message whose Message-ID is id.
func testMessage(id string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: support@vendor.test\r\nTo: alice@customer.test\r\nSubject: test %s\r\nMessage-Id: <%s>\r\n\r\nHello.\r\n.leading dot line\r\n", id, id)
	return b.Bytes()
}

func testEnvelope(id string) Envelope {
	return Envelope{From: "support@vendor.test", To: []string{"alice@customer.test"}, Data: testMessage(id), MessageID: id}
}
