package testenv

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// maxAPIBody caps what the helpers read from one Mailpit API response.
const maxAPIBody = 64 << 20

// MailpitServer is a private Mailpit instance (SMTP sink + REST API) on
// loopback. By default SMTP accepts any or no authentication, without TLS;
// see MailpitOptions.
type MailpitServer struct {
	bin      string
	dir      string
	logPath  string
	smtpPort int
	httpPort int
	http     *http.Client
	opts     MailpitOptions

	mu   sync.Mutex
	proc *process
}

// MailpitAddress is a name and address as Mailpit reports them.
type MailpitAddress struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// MailpitMessage is one message summary from GET /api/v1/messages.
// Bcc lists envelope recipients that are in neither To nor Cc.
type MailpitMessage struct {
	ID        string           `json:"ID"`
	MessageID string           `json:"MessageID"` // without angle brackets
	From      *MailpitAddress  `json:"From"`
	To        []MailpitAddress `json:"To"`
	Cc        []MailpitAddress `json:"Cc"`
	Bcc       []MailpitAddress `json:"Bcc"`
	ReplyTo   []MailpitAddress `json:"ReplyTo"`
	Subject   string           `json:"Subject"` // decoded
	Created   time.Time        `json:"Created"`
	Username  string           `json:"Username"` // SMTP AUTH user, "" without auth
	Tags      []string         `json:"Tags"`
	Size      int              `json:"Size"`
	Snippet   string           `json:"Snippet"`
}

// MailpitMessageDetail is one full message: GET /api/v1/message/{id} plus its
// raw headers from /headers and its source from /raw.
type MailpitMessageDetail struct {
	MailpitMessage
	ReturnPath string    `json:"ReturnPath"` // envelope sender
	Date       time.Time `json:"Date"`
	Text       string    `json:"Text"`
	HTML       string    `json:"HTML"`
	// Headers maps canonical names (as Mailpit gives them, e.g. "Message-Id")
	// to the raw, undecoded values in order.
	Headers map[string][]string `json:"-"`
	Raw     []byte              `json:"-"`
}

// Header returns the first raw value of the header name (any case), "" if absent.
func (d *MailpitMessageDetail) Header(name string) string {
	if v := d.HeaderValues(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// HeaderValues returns every raw value of the header name (any case).
func (d *MailpitMessageDetail) HeaderValues(name string) []string {
	for k, v := range d.Headers {
		if equalFoldASCII(k, name) {
			return v
		}
	}
	return nil
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// MailpitOptions configures StartMailpit. The zero value is Mailpit's
// default: any or no authentication, no TLS.
type MailpitOptions struct {
	// Username and Password, when set, are the only credentials SMTP accepts
	// (--smtp-auth-file); a session that does not authenticate is refused.
	Username, Password string
	// Cert turns on STARTTLS with this certificate and requires it
	// (--smtp-tls-cert, --smtp-tls-key, --smtp-require-starttls).
	Cert *Cert
}

// Mailpit starts a Mailpit instance with default options for the test. See
// StartMailpit.
func Mailpit(t testing.TB) *MailpitServer {
	t.Helper()
	return StartMailpit(t, nil)
}

// StartMailpit starts a Mailpit instance for the test on free 127.0.0.1 ports
// with its database in a temp dir, waits until SMTP and the API answer, and
// registers a cleanup that stops it. It skips or fails t if mailpit is not
// installed.
func StartMailpit(t testing.TB, opts *MailpitOptions) *MailpitServer {
	t.Helper()
	if opts == nil {
		opts = &MailpitOptions{}
	}
	var candidates []string
	if root, err := ProjectRoot(); err == nil {
		candidates = append(candidates, filepath.Join(root, ".testenv", "bin", "mailpit"))
	}
	bin, ok := lookBinary("SUPPORTD_MAILPIT", "mailpit", candidates, false)
	if !ok {
		missingBinary(t, "mailpit", "Go module github.com/axllent/mailpit@v1.33.1 in .testenv/bin")
	}
	dir := t.TempDir()
	s := &MailpitServer{
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "mailpit.log"),
		http:    &http.Client{Timeout: 10 * time.Second},
		opts:    *opts,
	}
	if err := s.writeFiles(); err != nil {
		t.Fatalf("testenv: mailpit: %v", err)
	}
	logTailOnFailure(t, "mailpit", s.logPath)
	startOnFreePorts(t, "mailpit", func() error {
		s.smtpPort, s.httpPort = freePort(t), freePort(t)
		return s.start()
	}, s.logPath)
	t.Cleanup(s.Stop)
	return s
}

func (s *MailpitServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.proc.exited() {
		return nil
	}
	args := []string{
		"--smtp", s.SMTPAddr(),
		"--listen", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort)),
		"--database", filepath.Join(s.dir, "mailpit.db"),
		"--smtp-disable-rdns",
		"--disable-version-check",
		"--max", "0", // keep every message
	}
	if s.opts.Username != "" {
		args = append(args, "--smtp-auth-file", filepath.Join(s.dir, "auth"))
	} else {
		args = append(args, "--smtp-auth-accept-any")
	}
	if s.opts.Cert != nil {
		args = append(args, "--smtp-tls-cert", filepath.Join(s.dir, "smtp.pem"),
			"--smtp-tls-key", filepath.Join(s.dir, "smtp.key"), "--smtp-require-starttls")
	} else {
		args = append(args, "--smtp-auth-allow-insecure")
	}
	proc, err := startProcess(s.bin, args, s.logPath)
	if err != nil {
		return err
	}
	s.proc = proc
	err = waitFor(proc, 30*time.Second, func() error {
		if err := smtpGreets(s.SMTPAddr()); err != nil {
			return err
		}
		resp, err := s.http.Get(s.APIURL() + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		_ = proc.stop(2 * time.Second)
		return fmt.Errorf("mailpit on %s: %w", s.SMTPAddr(), err)
	}
	return nil
}

// writeFiles writes the auth file and the certificate the options need.
func (s *MailpitServer) writeFiles() error {
	if s.opts.Username != "" {
		line := s.opts.Username + ":" + s.opts.Password + "\n"
		if err := os.WriteFile(filepath.Join(s.dir, "auth"), []byte(line), 0o600); err != nil {
			return fmt.Errorf("write auth file: %w", err)
		}
	}
	if s.opts.Cert != nil {
		if _, _, err := s.opts.Cert.writeKeyPair(s.dir, "smtp"); err != nil {
			return err
		}
	}
	return nil
}

func smtpGreets(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if string(buf[:3]) != "220" {
		return fmt.Errorf("unexpected greeting %q", buf)
	}
	return nil
}

// Start (re)starts a stopped instance on the same ports with the same
// database. It is a no-op if the instance runs.
func (s *MailpitServer) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("testenv: restart mailpit: %v", err)
	}
}

// Stop stops the instance; stored messages are kept for Start. Idempotent.
func (s *MailpitServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.stop(10 * time.Second)
	s.proc = nil
}

// SMTPAddr is the host:port of the SMTP listener.
func (s *MailpitServer) SMTPAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.smtpPort))
}

// APIURL is the base URL of the web UI and REST API, without a trailing slash.
func (s *MailpitServer) APIURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// LogPath is Mailpit's log file.
func (s *MailpitServer) LogPath() string { return s.logPath }

// get GETs path from the API and returns the body (status 200 only).
func (s *MailpitServer) get(path string) ([]byte, error) {
	resp, err := s.http.Get(s.APIURL() + path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", path, resp.Status, body)
	}
	return body, nil
}

func (s *MailpitServer) getJSON(path string, v any) error {
	body, err := s.get(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// messages lists every stored message, oldest first.
func (s *MailpitServer) messages() ([]MailpitMessage, error) {
	const page = 250
	var all []MailpitMessage
	for start := 0; ; start += page {
		var resp struct {
			Total    int              `json:"messages_count"`
			Messages []MailpitMessage `json:"messages"`
		}
		q := url.Values{"start": {strconv.Itoa(start)}, "limit": {strconv.Itoa(page)}}
		if err := s.getJSON("/api/v1/messages?"+q.Encode(), &resp); err != nil {
			return nil, err
		}
		all = append(all, resp.Messages...)
		if len(resp.Messages) < page || len(all) >= resp.Total {
			break
		}
	}
	// The API lists newest first.
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all, nil
}

// Messages returns every stored message summary, oldest first.
func (s *MailpitServer) Messages(t testing.TB) []MailpitMessage {
	t.Helper()
	msgs, err := s.messages()
	if err != nil {
		t.Fatalf("testenv: mailpit messages: %v", err)
	}
	return msgs
}

// WaitMessages waits until at least n messages are stored and returns all of
// them, oldest first; it fails t after timeout.
func (s *MailpitServer) WaitMessages(t testing.TB, n int, timeout time.Duration) []MailpitMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, err := s.messages()
		if err == nil && len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: mailpit: want %d messages within %s, have %d (last error: %v)", n, timeout, len(msgs), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Message returns the full message with its raw headers and source.
// (Mailpit marks it read; nothing else changes.)
func (s *MailpitServer) Message(t testing.TB, id string) *MailpitMessageDetail {
	t.Helper()
	var d MailpitMessageDetail
	p := "/api/v1/message/" + url.PathEscape(id)
	if err := s.getJSON(p, &d); err != nil {
		t.Fatalf("testenv: mailpit message: %v", err)
	}
	if err := s.getJSON(p+"/headers", &d.Headers); err != nil {
		t.Fatalf("testenv: mailpit message headers: %v", err)
	}
	raw, err := s.get(p + "/raw")
	if err != nil {
		t.Fatalf("testenv: mailpit message raw: %v", err)
	}
	d.Raw = raw
	return &d
}

// Raw returns the source of a message as Mailpit received it (with the
// Received and Return-Path lines Mailpit prepends).
func (s *MailpitServer) Raw(t testing.TB, id string) []byte {
	t.Helper()
	raw, err := s.get("/api/v1/message/" + url.PathEscape(id) + "/raw")
	if err != nil {
		t.Fatalf("testenv: mailpit raw: %v", err)
	}
	return raw
}

// DeleteAll deletes every stored message.
func (s *MailpitServer) DeleteAll(t testing.TB) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.APIURL()+"/api/v1/messages", nil)
	if err != nil {
		t.Fatalf("testenv: mailpit delete all: %v", err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("testenv: mailpit delete all: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("testenv: mailpit delete all: %s: %s", resp.Status, b)
	}
}
