package security_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"supportd/internal/testenv"
)

// secret returns a recognisable secret: a label and 32 random hex digits (the part
// searched for, so a partly redacted secret is caught too).
func secret(t testing.TB, label string) (full, core string) {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	core = hex.EncodeToString(b)
	return label + "-" + core, core
}

// encodings are the forms a secret takes on the wire or in careless logs.
func encodings(user, s string) map[string]string {
	b64 := func(x string) string { return base64.StdEncoding.EncodeToString([]byte(x)) }
	return map[string]string{
		"base64":        b64(s),
		"base64 raw":    base64.RawStdEncoding.EncodeToString([]byte(s)),
		"base64 url":    base64.URLEncoding.EncodeToString([]byte(s)),
		"url-escaped":   url.QueryEscape(s),
		"AUTH PLAIN":    b64("\x00" + user + "\x00" + s),
		"AUTH PLAIN id": b64(user + "\x00" + user + "\x00" + s),
		"XOAUTH2":       b64("user=" + user + "\x01auth=Bearer " + s + "\x01\x01"),
		"hex":           hex.EncodeToString([]byte(s)),
	}
}

// tokenServer is an OAuth2 token endpoint that checks the refresh token and
// client secret it is sent and answers with an access token.
type tokenServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	sawOK    bool // the expected refresh token and client secret arrived
}

func newTokenServer(t testing.TB, refresh, clientSecret, access string) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		cs := r.PostForm.Get("client_secret")
		if _, p, ok := r.BasicAuth(); ok {
			cs = p
		}
		ts.mu.Lock()
		ts.requests++
		ok := r.PostForm.Get("refresh_token") == refresh && cs == clientSecret
		ts.sawOK = ts.sawOK || ok
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) stats() (int, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.requests, ts.sawOK
}

// `supportd run` and `supportd config check`, at debug level in text and JSON,
// with passwords from the environment, an OAuth2 refresh token and client secret
// from files, a working login, a wrong password and a refused XOAUTH2 login: no
// secret appears in any output, in clear or encoded.
func TestSecretsNeverInOutput(t *testing.T) {
	t.Parallel()
	imapPass, imapCore := secret(t, "imap-pass")
	smtpPass, smtpCore := secret(t, "smtp-pass")
	wrongPass, wrongCore := secret(t, "wrong-pass")
	refresh, refreshCore := secret(t, "refresh-token")
	clientSecret, clientCore := secret(t, "client-secret")
	access, accessCore := secret(t, "access-token")

	dv := testenv.StartDovecot(t, &testenv.DovecotOptions{Password: imapPass})
	mp := testenv.Mailpit(t)
	ts := newTokenServer(t, refresh, clientSecret, access)
	dir := t.TempDir()
	refreshFile := filepath.Join(dir, "refresh_token")
	secretFile := filepath.Join(dir, "client_secret")
	csv := filepath.Join(dir, "customers.csv")
	for p, v := range map[string]string{refreshFile: refresh + "\n", secretFile: clientSecret + "\n", csv: testCustomers} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const smtpUser = "mailer@vendor.test"
	base := func(format, imapExtra string) string {
		return fmt.Sprintf(`
store: {path: %q}
imap: {address: %q, tls: none, username: %q, poll_interval: 1s, start_at: all%s}
smtp: {address: %q, tls: none, username: %q}
metrics: {listen: ""}
log: {level: debug, format: %s}
`, filepath.Join(dir, "supportd.db"), dv.Addr(), dv.User(), imapExtra, mp.SMTPAddr(), smtpUser, format)
	}
	oauth := fmt.Sprintf(`, oauth2: {token_url: %q, client_id: supportd, client_secret_file: %q, refresh_token_file: %q}`,
		ts.URL+"/token", secretFile, refreshFile)

	var outputs []string
	record := func(what, out string) {
		outputs = append(outputs, out)
		t.Logf("%s: %d bytes of output", what, len(out))
	}
	goodEnv := cleanEnv("SUPPORTD_IMAP_PASSWORD="+imapPass, "SUPPORTD_SMTP_PASSWORD="+smtpPass)

	// 1. Text, correct passwords: log in, read, reply (SMTP AUTH with the password).
	cfg := writeConfig(t, filepath.Join(dir), base("text", ""))
	out, errOut, code := cli(t, goodEnv, "--config", cfg, "customers", "import", csv)
	record("customers import", out+errOut)
	if code != 0 {
		t.Fatalf("customers import: %s%s", out, errOut)
	}
	dv.AppendAt(t, "INBOX", rawMsg([]string{"From: Alice <alice@acme.test>", "To: support@vendor.test", "Subject: Password reset",
		"Date: Wed, 25 Nov 2026 10:00:00 +1030", "Message-ID: <sec1@acme.test>"}, "Build Number: 9653\n"), received)
	d := startDaemon(t, goodEnv, "--config", cfg, "run")
	msgs := mp.WaitMessages(t, 1, 30*time.Second)
	d.stop(t)
	record("run (text, good passwords)", d.output())
	if msgs[0].Username != smtpUser {
		t.Errorf("Mailpit saw SMTP user %q, want %q: the password was not used", msgs[0].Username, smtpUser)
	}
	for _, want := range []string{"imap authenticated", "msg=sent"} {
		if !strings.Contains(d.output(), want) {
			t.Errorf("run output lacks %q: the run did not do what the test needs", want)
		}
	}

	// 2. JSON, wrong IMAP password: failing logins are logged, the password is not.
	cfg = writeConfig(t, dir, base("json", ""))
	d = startDaemon(t, cleanEnv("SUPPORTD_IMAP_PASSWORD="+wrongPass, "SUPPORTD_SMTP_PASSWORD="+smtpPass), "--config", cfg, "run")
	waitFor(t, 20*time.Second, "two failed logins", func() bool { return strings.Count(d.output(), "imap authentication failed") >= 2 })
	d.stop(t)
	record("run (json, wrong password)", d.output())
	if !strings.Contains(d.output(), "authenticate") {
		t.Errorf("the failed login is not explained in the log:\n%s", d.output())
	}

	// 3. Text and JSON, OAuth2 from files: the token is fetched with the refresh
	// token and client secret, then Dovecot refuses XOAUTH2.
	for _, format := range []string{"text", "json"} {
		cfg = writeConfig(t, dir, base(format, oauth))
		d = startDaemon(t, cleanEnv("SUPPORTD_SMTP_PASSWORD="+smtpPass), "--config", cfg, "run")
		waitFor(t, 20*time.Second, "a refused XOAUTH2 login", func() bool {
			n, _ := ts.stats()
			return n >= 1 && loginFailed(d.output())
		})
		d.stop(t)
		record("run ("+format+", oauth2)", d.output())
	}
	// A refresh token the endpoint refuses: the refresh failure is logged, not the token.
	badRefresh, badCore := secret(t, "bad-refresh-token")
	badFile := filepath.Join(dir, "bad_refresh_token")
	if err := os.WriteFile(badFile, []byte(badRefresh), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = writeConfig(t, dir, base("json", strings.Replace(oauth, refreshFile, badFile, 1)))
	before, _ := ts.stats()
	d = startDaemon(t, cleanEnv(), "--config", cfg, "run")
	waitFor(t, 20*time.Second, "a refused token refresh", func() bool {
		n, _ := ts.stats()
		return n > before && loginFailed(d.output())
	})
	d.stop(t)
	record("run (json, refused refresh token)", d.output())
	if !strings.Contains(d.output(), "invalid_grant") {
		t.Errorf("the refused refresh is not explained in the log:\n%s", d.output())
	}
	if _, ok := ts.stats(); !ok {
		t.Error("the token endpoint never received the refresh token and client secret: the OAuth2 path was not exercised")
	}

	// 4. config check in both formats, with every secret configured.
	for _, format := range []string{"text", "json"} {
		cfg = writeConfig(t, dir, base(format, oauth))
		out, errOut, code = cli(t, cleanEnv("SUPPORTD_SMTP_PASSWORD="+smtpPass), "--config", cfg, "--log-level", "debug", "config", "check")
		record("config check ("+format+")", out+errOut)
		if code != 0 {
			t.Errorf("config check: exit %d: %s%s", code, out, errOut)
		}
	}

	all := strings.Join(outputs, "\n")
	secrets := []struct{ name, user, full, core string }{
		{"IMAP password", dv.User(), imapPass, imapCore},
		{"SMTP password", smtpUser, smtpPass, smtpCore},
		{"wrong IMAP password", dv.User(), wrongPass, wrongCore},
		{"refresh token", dv.User(), refresh, refreshCore},
		{"client secret", dv.User(), clientSecret, clientCore},
		{"access token", dv.User(), access, accessCore},
		{"refused refresh token", dv.User(), badRefresh, badCore},
	}
	for _, s := range secrets {
		if strings.Contains(all, s.core) {
			t.Errorf("the %s appears in the output:\n%s", s.name, lineWith(all, s.core))
		}
		for enc, v := range encodings(s.user, s.full) {
			if strings.Contains(all, v) {
				t.Errorf("the %s appears %s-encoded in the output:\n%s", s.name, enc, lineWith(all, v))
			}
		}
	}
}

// loginFailed reports whether the daemon logged a failed IMAP session: a
// refused login ("imap authentication failed") or any other failure.
func loginFailed(out string) bool {
	return strings.Contains(out, "imap authentication failed") || strings.Contains(out, "imap session failed")
}
