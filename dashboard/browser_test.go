package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"supportd/internal/testenv"
	"supportd/store"
)

const testToken = "s3cret-admin-token-0123456789"

// world is a store with tickets around now: overdue, due soon, due later,
// answered and closed ones, a hostile subject and customer name.
func world(t *testing.T, now time.Time) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "supportd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	csv := "id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n" +
		"C100,Acme Pty Ltd,it@acme.test,acme.test,enterprise,2030-06-30,,false,false,true\n" +
		"C666,<script>document.title='pwned-company'</script> Ltd,,evil.test,cal,2030-01-01,,false,false,false\n"
	if _, err := db.ImportCustomers(strings.NewReader(csv), nil); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) *time.Time { x := now.Add(d).UTC().Truncate(time.Second); return &x }
	tickets := []map[string]any{
		{"id": "CS-000003", "state": "open", "customer_id": "C100", "company": "Acme Pty Ltd", "status": "active", "priority": 1,
			"subject": "Server down since the upgrade", "requester": "it@acme.test", "created": at(-3 * time.Hour),
			"first_response_due": at(-time.Hour), "response_due": at(-time.Hour), "breaches": 1,
			"messages": []map[string]any{{"at": at(-3 * time.Hour), "direction": "in", "kind": "customer", "from": "it@acme.test", "message_id": "a1@acme.test"},
				{"at": at(-3 * time.Hour), "direction": "out", "kind": "auto", "from": "support@vendor.test", "message_id": "r1@vendor.test"},
				// A delivery report as stores before 2026-12-03 recorded it: shown as auto.
				{"at": at(-2 * time.Hour), "direction": "in", "kind": "bounce", "from": "MAILER-DAEMON@mx.acme.test", "message_id": "dsn1@mx.acme.test"}}},
		{"id": "CS-000002", "state": "open", "customer_id": "C100", "company": "Acme Pty Ltd", "status": "active", "priority": 3,
			"subject": "Question about licences", "requester": "it@acme.test", "created": at(-time.Hour),
			"first_response_due": at(5 * time.Hour), "response_due": at(5 * time.Hour)},
		{"id": "CS-000004", "state": "open", "customer_id": "C666", "company": "<script>document.title='pwned-company'</script> Ltd",
			"status": "active", "priority": 4, "subject": "<script>document.title='pwned-subject'</script><img src=x onerror=alert(1)>",
			"requester": "x@evil.test", "created": at(-time.Hour), "first_response_due": at(2 * time.Hour), "response_due": at(2 * time.Hour)},
		{"id": "CS-000005", "state": "answered", "status": "active", "priority": 2, "subject": "Answered in time", "requester": "b@acme.test",
			"created": at(-2 * time.Hour), "first_response_due": at(-30 * time.Minute), "first_response_at": at(-time.Hour)},
		{"id": "CS-000006", "state": "closed", "status": "trial", "priority": 2, "subject": "Closed", "requester": "c@initech.test", "created": at(-2 * time.Hour)},
		{"id": "CS-000007", "state": "open", "status": "unknown", "priority": 4, "subject": "No deadline", "requester": "d@x.test", "created": at(-2 * time.Hour)},
	}
	// Raw JSON with the docs/design.md §10 fields, as the store keeps tickets.
	raw := map[string][]byte{}
	for _, tk := range tickets {
		b, _ := json.Marshal(tk)
		raw[tk["id"].(string)] = b
	}
	if err := putRawTickets(db, raw); err != nil {
		t.Fatal(err)
	}
	return db
}

// server serves the dashboard as run does, on a loopback listener.
func server(t *testing.T, db *store.DB, now func() time.Time) string {
	t.Helper()
	// A zone where now is midday: every ticket of the world falls on today,
	// whatever the time of day the test runs.
	n := now().UTC()
	sinceMidnight := n.Sub(time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, time.UTC))
	off := int((12*time.Hour - sinceMidnight).Round(time.Minute).Seconds())
	loc := time.FixedZone(fmt.Sprintf("UTC%+03d:%02d", off/3600, abs(off)%3600/60), off)
	srv := httptest.NewServer(New(Options{DB: db, Token: testToken, Location: loc, Now: now}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// browser starts a headless Debian Chromium for one test, with a deadline.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := testenv.Tool(t, "chromium", "/usr/bin/chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// tab drives one browser tab; each helper fails the test on an error.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (p tab) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// text is the rendered text of the element sel selects (read in the page, so
// a node replaced by a navigation is never stale).
func (p tab) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(e => e ? e.innerText : "<missing>")(document.querySelector(`+jsString(sel)+`))`))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](p tab, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (p tab) login(base, token string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login")))
}

// The dashboard in a real headless Chromium: sign-in, rows in response-due
// order, the overdue marker (also set live when a countdown passes zero),
// countdowns ticking, the detail view, escaping, and a screenshot.
func TestDashboardInChromium(t *testing.T) {
	now := time.Now()
	db := world(t, now)
	base := server(t, db, time.Now)
	p := tab{t, browser(t)}

	// Unauthenticated: the login form, never the queue.
	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if body := eval[string](p, "document.body.innerHTML"); strings.Contains(body, "CS-000001") {
		t.Fatal("the queue is shown before sign-in")
	}
	// A wrong token is refused.
	p.login(base, "wrong")
	p.do(chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if e := p.text("#login-error"); !strings.Contains(e, "Wrong token") {
		t.Errorf("wrong token: %q", e)
	}

	p.login(base, testToken)
	p.do(chromedp.WaitVisible(chromedp.CSS("#open-tickets")))
	if url := eval[string](p, "location.href"); strings.Contains(url, testToken) {
		t.Errorf("the token is in the URL: %s", url)
	}
	ids := eval[[]string](p, `Array.from(document.querySelectorAll("#open-tickets tr.ticket")).map(r => r.dataset.id)`)
	want := []string{"CS-000003", "CS-000004", "CS-000002", "CS-000007"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("open rows %v, want by response due %v", ids, want)
	}
	// The session cookie is HttpOnly: scripts cannot see it.
	if c := eval[string](p, "document.cookie"); c != "" {
		t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", c)
	}

	// The overdue marker on the overdue row only.
	overdue := eval[[]string](p, `Array.from(document.querySelectorAll("#open-tickets tr.overdue")).map(r => r.dataset.id + ":" + r.querySelector(".overdue-badge").textContent)`)
	if strings.Join(overdue, " ") != "CS-000003:OVERDUE" {
		t.Errorf("overdue rows %v, want CS-000003 only", overdue)
	}
	// The stylesheet applies under the CSP (as the ticking countdown below
	// shows for the script): overdue rows are red.
	if bg := eval[string](p, `getComputedStyle(document.querySelector("#open-tickets tr.overdue td")).backgroundColor`); bg != "rgb(253, 236, 236)" {
		t.Errorf("overdue row background %q: the stylesheet did not apply", bg)
	}
	// Counts by state and priority.
	counts := eval[map[string]string](p, `Object.fromEntries(Array.from(document.querySelectorAll("#counts .card")).map(c => [(c.dataset.state||c.dataset.priority), c.querySelector("b").textContent]))`)
	for k, v := range map[string]string{"open": "4", "answered": "1", "closed": "1", "P1": "1", "P2": "0", "P3": "1", "P4": "2"} {
		if counts[k] != v {
			t.Errorf("count %s = %q, want %s (all %v)", k, counts[k], v, counts)
		}
	}
	// Today's SLA compliance of active tickets: CS-000003 missed, CS-000005
	// answered on time, CS-000002 and CS-000004 pending.
	active := eval[[]string](p, `Array.from(document.querySelectorAll('#sla-today tr[data-status="active"] td')).map(td => td.textContent)`)
	if len(active) != 7 || active[1] != "4" || active[2] != "1" || active[4] != "1" || active[5] != "2" || active[6] != "50%" {
		t.Errorf("SLA row for active: %q", active)
	}

	// Escaping: the script in a subject and a company name is text, never run.
	subj, cust := p.text(`tr[data-id="CS-000004"] td.subject`), p.text(`tr[data-id="CS-000004"] td.customer`)
	if !strings.Contains(subj, "<script>document.title='pwned-subject'</script>") || !strings.Contains(cust, "<script>") {
		t.Errorf("hostile subject/customer not shown as text: %q / %q", subj, cust)
	}
	if title := eval[string](p, "document.title"); strings.Contains(title, "pwned") {
		t.Errorf("a script from a subject or customer name ran: title %q", title)
	}
	if n := eval[int](p, `document.querySelectorAll("#open-tickets script, #open-tickets img").length`); n != 0 {
		t.Errorf("%d elements injected from ticket data", n)
	}

	// The countdown ticks.
	sel := `tr[data-id="CS-000002"] .countdown`
	first := p.text(sel)
	p.do(chromedp.Poll[chromedp.Void](`document.querySelector('`+sel+`').textContent !== `+jsString(first), chromedp.WithPollingTimeout(5*time.Second)))
	second := p.text(sel)
	if first == second || !strings.HasPrefix(first, "in 4h") || !strings.HasPrefix(second, "in 4h") {
		t.Errorf("countdown %q → %q, want about 5 hours left, ticking", first, second)
	}
	// A ticket due in 8 s: on time when the page is made, overdue in the
	// page once the countdown passes zero, without a reload.
	due := time.Now().Add(8 * time.Second).UTC()
	b, _ := json.Marshal(map[string]any{"id": "CS-000001", "state": "open", "customer_id": "C100", "company": "Acme Pty Ltd", "status": "active",
		"priority": 2, "subject": "Export is slow", "requester": "it@acme.test", "created": due.Add(-time.Hour), "first_response_due": due, "response_due": due})
	if err := putRawTickets(db, map[string][]byte{"CS-000001": b}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="CS-000001"]`)))
	if time.Now().Before(due) {
		if cls := eval[string](p, `document.querySelector('tr[data-id="CS-000001"]').className`); strings.Contains(cls, "overdue") {
			t.Errorf("CS-000001 marked overdue before its due time (class %q)", cls)
		}
	}
	p.do(chromedp.WaitVisible(chromedp.CSS(`tr[data-id="CS-000001"].overdue .overdue-badge`)))
	if live := p.text(`tr[data-id="CS-000001"] .countdown`); !strings.HasPrefix(live, "overdue by") {
		t.Errorf("CS-000001 countdown after its due time: %q", live)
	}

	// Screenshot (PNG: quality 100) of the queue with overdue and on-time tickets.
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(outputDir(t), "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if len(png) < 10000 {
		t.Errorf("screenshot of %d bytes", len(png))
	}

	// The detail view, one click away.
	p.do(chromedp.Click(chromedp.CSS(`tr[data-id="CS-000003"] a`)), chromedp.WaitVisible(chromedp.CSS("#ticket-id")))
	detailID, fields, ent, msgs := p.text("#ticket-id"), p.text("#fields"), p.text("#entitlement"), p.text("#messages")
	if detailID != "CS-000003" || !strings.Contains(fields, "it@acme.test") || !strings.Contains(fields, "Breaches") ||
		!strings.Contains(ent, "Acme Pty Ltd") || !strings.Contains(ent, "enterprise") || !strings.Contains(ent, "2030-06-30") ||
		!strings.Contains(msgs, "a1@acme.test") || !strings.Contains(msgs, "auto") {
		t.Errorf("detail view:\n%s\n%s\n%s\n%s", detailID, fields, ent, msgs)
	}
	// The hostile ticket's detail escapes too.
	p.do(chromedp.Navigate(base+"/ticket/CS-000004"), chromedp.WaitVisible(chromedp.CSS("#ticket-subject")))
	if s, title := p.text("#ticket-subject"), eval[string](p, "document.title"); !strings.Contains(s, "<script>") || strings.Contains(title, "pwned") {
		t.Errorf("detail of the hostile ticket: subject %q, title %q", s, title)
	}
}

func abs(x int) int { return max(x, -x) }

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// outputDir is where the test keeps files: $SUPPORTD_TEST_OUTPUT or a
// directory kept after the test.
func outputDir(t *testing.T) string {
	if d := os.Getenv("SUPPORTD_TEST_OUTPUT"); d != "" {
		os.MkdirAll(d, 0o755)
		return d
	}
	d, err := os.MkdirTemp("", "supportd-dashboard-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Without a browser: every response has the CSP; no method but GET/HEAD
// (and the login POST) is served; nothing is readable without the cookie;
// the cookie's flags; the token never appears in a URL or the cookie.
func TestDashboardHTTP(t *testing.T) {
	db := world(t, time.Now())
	base := server(t, db, time.Now)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/", "/ticket/CS-000001", "/static/app.js", "/static/app.css", "/nope", "/login"} {
		resp, err := noFollow.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Content-Security-Policy") != CSP {
			t.Errorf("GET %s: CSP %q", p, resp.Header.Get("Content-Security-Policy"))
		}
	}
	for _, p := range []string{"/", "/ticket/CS-000001"} {
		resp, _ := noFollow.Get(base + p)
		b := make([]byte, 1<<16)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b[:n]), "CS-000001") {
			t.Errorf("GET %s without a session: %d", p, resp.StatusCode)
		}
	}
	resp, err := noFollow.PostForm(base+"/login", map[string][]string{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	c := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode ||
		strings.Contains(c[0].Value, testToken) || strings.Contains(resp.Header.Get("Location"), testToken) {
		t.Fatalf("login: %d %+v %q", resp.StatusCode, c, resp.Header.Get("Location"))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, _ := http.NewRequest(m, base+"/ticket/CS-000001", strings.NewReader("state=closed"))
		req.AddCookie(c[0])
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s on the dashboard: %d, want 405", m, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/ticket/CS-000003", nil)
	req.AddCookie(c[0])
	resp, err = noFollow.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ticket with the session: %v %v", resp, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(body), "dsn1@mx.acme.test") || strings.Contains(string(body), "bounce") {
		t.Errorf("ticket CS-000003 must list the delivery report with the kind auto, as tickets show does (%v):\n%s", err, body)
	}
}

func putRawTickets(db *store.DB, raw map[string][]byte) error {
	return db.Update(func(tx *store.Tx) error {
		for id, b := range raw {
			if err := tx.PutTicketJSON(id, b); err != nil {
				return err
			}
		}
		return nil
	})
}
