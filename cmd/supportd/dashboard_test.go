package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/dashboard"
	"supportd/internal/harness"
	"supportd/poller"
	"supportd/store"
)

// signIn posts the token to a dashboard and returns a client holding the
// session cookie.
func signIn(t *testing.T, base, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.PostForm(base+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// run's metrics listener serves the dashboard at / behind the admin token.
func TestMetricsListenerServesTheDashboard(t *testing.T) {
	env := storeWithCustomers(t)
	path := strings.TrimPrefix(env[0], "SUPPORTD_STORE_PATH=")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	created := time.Now().Add(-time.Hour)
	if err := db.Update(func(tx *store.Tx) error {
		return tx.PutTicket(&store.Ticket{ID: "CS-000042", Subject: "Error adding list", From: "alice@acme.test", Status: "active",
			Priority: 1, State: store.StateOpen, Created: created, Updated: created, Deadline: created.Add(2 * time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	p, err := poller.New(poller.Config{Address: "127.0.0.1:1", TLS: "none", Username: "u", Password: "p", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := newAdminToken()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, addr, err := serveMetrics("127.0.0.1:0", daemon.NewMetrics(nil), healthOf(p, nil), &adminAPI{db: db, token: tok, log: log, loc: time.UTC}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + addr
	code, body, h := get(t, http.DefaultClient, base+"/")
	if code != http.StatusUnauthorized || !strings.Contains(body, `name="token"`) || strings.Contains(body, "CS-000042") ||
		h.Get("Content-Security-Policy") != dashboard.CSP {
		t.Fatalf("/ without a session: %d CSP %q\n%s", code, h.Get("Content-Security-Policy"), body)
	}
	c := signIn(t, base, tok)
	code, body, _ = get(t, c, base+"/")
	if code != http.StatusOK || !strings.Contains(body, "CS-000042") || !strings.Contains(body, "Error adding list") {
		t.Fatalf("/ signed in: %d\n%s", code, body)
	}
	if code, _, _ := get(t, c, base+"/metrics"); code != http.StatusOK {
		t.Errorf("/metrics beside the dashboard: %d", code)
	}
}

// `supportd demo --serve` prints the dashboard's URL and keeps serving the
// demo's tickets until its context ends (Ctrl-C).
func TestDemoServesTheDashboard(t *testing.T) {
	var out, errb harness.SyncBuffer
	root := newRootCmd(&out, &errb, nil)
	root.SetArgs([]string{"demo", "--serve"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	re := regexp.MustCompile(`Staff dashboard: (http://127\.0\.0\.1:\d+)/ \(sign in with the token ([0-9a-f]+)\)`)
	var m []string
	harness.WaitFor(t, 60*time.Second, "the dashboard URL", func() bool { m = re.FindStringSubmatch(out.String()); return m != nil })
	c := signIn(t, m[1], m[2])
	code, body, _ := get(t, c, m[1]+"/")
	if code != http.StatusOK || !strings.Contains(body, "CS-004211") {
		t.Fatalf("demo dashboard: %d\n%s", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --serve after Ctrl-C: %v\n%s", err, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo --serve did not stop")
	}
	if _, err := http.Get(m[1] + "/"); err == nil {
		t.Error("the dashboard still answers after the demo stopped")
	}
}

// Without --serve, `make demo` (supportd demo) prints the dashboard's URL and
// how to keep it open, and returns.
func TestDemoPrintsTheDashboardURL(t *testing.T) {
	out, stderr, err := cli(t, nil, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr)
	}
	if !regexp.MustCompile(`Staff dashboard: http://127\.0\.0\.1:\d+/ \(sign in with the token [0-9a-f]{64}\)`).MatchString(out) ||
		!strings.Contains(out, "demo --serve") {
		t.Errorf("demo output lacks the dashboard URL:\n%s", out)
	}
}
