// Package memserver runs real in-process IMAP (go-imap v2 imapserver +
// imapmemserver) and SMTP (go-smtp) servers on loopback, for `supportd demo` and for
// unit-level tests. Nothing here is a mock: clients speak the full protocols to them.
package memserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// IMAP is an in-memory IMAP server with one user.
type IMAP struct {
	User     *imapmemserver.User
	Username string
	Password string
	srv      *imapserver.Server
	ln       net.Listener
}

// StartIMAP listens on 127.0.0.1:0 with IDLE, MOVE and UIDPLUS, plain text auth
// allowed (loopback only), and creates INBOX.
func StartIMAP(username, password string) (*IMAP, error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(username, password)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, err
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}, imap.CapIdle: {}, imap.CapMove: {}, imap.CapUIDPlus: {},
			imap.CapNamespace: {}, imap.CapESearch: {},
		},
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go srv.Serve(ln)
	return &IMAP{User: u, Username: username, Password: password, srv: srv, ln: ln}, nil
}

// Addr is host:port of the server.
func (s *IMAP) Addr() string { return s.ln.Addr().String() }

// Append delivers a message to mailbox with the given INTERNALDATE. Bare LF line
// ends are turned into CRLF, as a real MTA would.
func (s *IMAP) Append(mailbox string, raw []byte, received time.Time) (uint32, error) {
	raw = CRLF(raw)
	data, err := s.User.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{Time: received})
	if err != nil {
		return 0, fmt.Errorf("append to %s: %w", mailbox, err)
	}
	return uint32(data.UID), nil
}

// Flags returns the flags of message uid in mailbox, read over IMAP like any
// mail client would (a read-only SELECT).
func (s *IMAP) Flags(mailbox string, uid uint32) ([]string, error) {
	c, err := imapclient.DialInsecure(s.Addr(), nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		return nil, err
	}
	if _, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, err
	}
	msgs, err := c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range msgs {
		for _, f := range m.Flags {
			out = append(out, string(f))
		}
	}
	return out, c.Logout().Wait()
}

// Close stops the server.
func (s *IMAP) Close() error { return s.srv.Close() }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// CRLF normalises line ends to CRLF.
func CRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// Received is one message the SMTP sink accepted.
type Received struct {
	From string
	To   []string
	Data []byte
	At   time.Time
}

// Header returns the first value of a header of the received message ("" if none).
func (r Received) Header(name string) string {
	head, _, _ := bytes.Cut(r.Data, []byte("\r\n\r\n"))
	var val string
	found := false
	for _, line := range strings.Split(string(head), "\r\n") {
		if found && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			val += " " + strings.TrimSpace(line)
			continue
		}
		if found {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			val, found = strings.TrimSpace(v), true
		}
	}
	return val
}

// SMTP is a recording SMTP server: it accepts every message (or answers with the
// reply Fail gives) and keeps them in memory.
type SMTP struct {
	mu   sync.Mutex
	msgs []Received
	// Fail, when set, decides the answer to DATA of each message: nil accepts,
	// an *smtp.SMTPError rejects with its code.
	Fail func(from string, to []string) error
	// Username and Password, when Password is set before the first session,
	// make AUTH PLAIN available and refuse other credentials (535 5.7.8).
	Username, Password string
	srv                *smtp.Server
	data               func(from string, to []string, r io.Reader) error
	ln                 net.Listener
	got                chan struct{}
}

// SMTPOptions adjust StartSMTPWith; the zero value is StartSMTP's plain
// recording server.
type SMTPOptions struct {
	// TLS, when set, is offered with STARTTLS, or from the first byte with
	// Implicit.
	TLS      *tls.Config
	Implicit bool
	// Data, when set, consumes each message instead of recording it (a
	// discarding sink that keeps only what it measures); its error answers DATA.
	Data func(from string, to []string, r io.Reader) error
	// Go starts the server loop (default: a plain goroutine); the bench tool
	// labels it for its profiles.
	Go func(serve func())
	// MaxRecipients per message (0: no limit).
	MaxRecipients int
}

// StartSMTP listens on 127.0.0.1:0 without TLS and records every message.
func StartSMTP() (*SMTP, error) { return StartSMTPWith(SMTPOptions{}) }

// StartSMTPWith listens on 127.0.0.1:0 with the options o.
func StartSMTPWith(o SMTPOptions) (*SMTP, error) {
	s := &SMTP{got: make(chan struct{}, 1), data: o.Data}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.MaxMessageBytes = 64 << 20
	s.srv.MaxRecipients = o.MaxRecipients
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	s.srv.TLSConfig = o.TLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if o.TLS != nil && o.Implicit {
		ln = tls.NewListener(ln, o.TLS)
	}
	s.ln = ln
	serve := func() { _ = s.srv.Serve(ln) }
	if o.Go != nil {
		o.Go(serve)
	} else {
		go serve()
	}
	return s, nil
}

// Addr is host:port of the server.
func (s *SMTP) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *SMTP) Close() error { return s.srv.Close() }

// Messages returns a copy of what was received so far.
func (s *SMTP) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait waits until at least n messages arrived or the timeout passes.
func (s *SMTP) Wait(n int, timeout time.Duration) ([]Received, error) {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m, nil
		}
		select {
		case <-s.got:
		case <-deadline:
			m := s.Messages()
			return m, fmt.Errorf("got %d of %d messages within %v", len(m), n, timeout)
		}
	}
}

type session struct {
	s    *SMTP
	from string
	to   []string
}

func (x *session) AuthMechanisms() []string {
	if x.s.Password == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if x.s.Password == "" || user != x.s.Username || pass != x.s.Password {
			return smtp.ErrAuthFailed
		}
		return nil
	}), nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }
func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	if x.s.data != nil {
		return x.s.data(x.from, x.to, r)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if x.s.Fail != nil {
		if err := x.s.Fail(x.from, x.to); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return se
			}
			return err
		}
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, Received{From: x.from, To: append([]string(nil), x.to...), Data: buf.Bytes(), At: time.Now()})
	x.s.mu.Unlock()
	select {
	case x.s.got <- struct{}{}:
	default:
	}
	return nil
}

// UIDValidity of a mailbox.
func (s *IMAP) UIDValidity(mailbox string) (uint32, error) {
	st, err := s.User.Status(mailbox, &imap.StatusOptions{UIDValidity: true})
	if err != nil {
		return 0, err
	}
	return st.UIDValidity, nil
}
