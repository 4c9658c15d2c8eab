package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/poller"
	"supportd/sla"
	"supportd/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/explain")

// cli runs the real command tree with args and the given environment.
func cli(t testing.TB, env []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb, env)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// storeWithCustomers imports testdata/customers.csv into a new store and returns
// the environment that points the CLI at it.
func storeWithCustomers(t testing.TB) []string {
	t.Helper()
	env := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(t.TempDir(), "supportd.db")}
	if _, _, err := cli(t, env, "customers", "import", "../../testdata/customers.csv"); err != nil {
		t.Fatal(err)
	}
	return env
}

// The keys docs/design.md §7 promises, all present on every explanation.
var explainKeys = []string{"message_id", "from", "ticket_id", "ticket_new", "fields", "missing", "entitlement",
	"version_supported", "sla", "action", "suppress_reason", "reply", "route", "problems"}

func checkExplainJSON(t *testing.T, name string, out string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%s: explain printed invalid JSON: %v\n%s", name, err, out)
	}
	for _, k := range explainKeys {
		if _, ok := doc[k]; !ok {
			t.Errorf("%s: key %q missing", name, k)
		}
	}
	fields, _ := doc["fields"].(map[string]any)
	for _, k := range []string{"build", "builds_mentioned", "major_version", "server_os", "browser", "attachments"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("%s: fields.%s missing", name, k)
		}
	}
	// docs/design.md §7: unknown is null, never an empty string.
	if b, ok := fields["browser"].(map[string]any); ok && b["version"] == "" {
		t.Errorf("%s: fields.browser.version is \"\", want null", name)
	}
	if atts, ok := fields["attachments"].([]any); ok {
		for _, at := range atts {
			if at.(map[string]any)["filename"] == "" {
				t.Errorf("%s: an attachment's filename is \"\", want null", name)
			}
		}
	}
	ent, _ := doc["entitlement"].(map[string]any)
	for _, k := range []string{"customer_id", "status", "priority", "verified_sender", "asup_expires", "extended_support"} {
		if _, ok := ent[k]; !ok {
			t.Errorf("%s: entitlement.%s missing", name, k)
		}
	}
	s, _ := doc["sla"].(map[string]any)
	for _, k := range []string{"in_hours", "clock", "deadline", "target"} {
		if _, ok := s[k]; !ok {
			t.Errorf("%s: sla.%s missing", name, k)
		}
	}
	route, _ := doc["route"].(map[string]any)
	for _, k := range []string{"keywords", "folder", "forward_to"} {
		if _, ok := route[k]; !ok {
			t.Errorf("%s: route.%s missing", name, k)
		}
	}
	if m, ok := doc["missing"].([]any); ok {
		last := -1
		for _, tok := range m {
			i := indexOf([]string{"build", "server_os", "browser", "screenshots", "description", "steps_to_reproduce"}, tok.(string))
			if i <= last {
				t.Errorf("%s: missing tokens out of order or unknown: %v", name, m)
			}
			last = i
		}
	} else {
		t.Errorf("%s: missing is not a list", name)
	}
	return doc
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// Every email of the enmime corpus goes through `explain` with exit 0 and valid,
// complete JSON (issue 2 acceptance).
func TestExplainEveryCorpusEmail(t *testing.T) {
	env := storeWithCustomers(t)
	n := 0
	err := filepath.WalkDir("../../testdata/enmime", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".raw") {
			return err
		}
		n++
		out, stderr, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", path)
		if err != nil {
			t.Errorf("%s: explain failed: %v\n%s", path, err, stderr)
			return nil
		}
		checkExplainJSON(t, path, out)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 80 {
		t.Fatalf("only %d corpus emails found", n)
	}
}

// Golden explanations of the realistic support emails: the whole pure pipeline
// (parse → entitlement → SLA → decision) pinned per message. -update rewrites them.
func TestExplainGolden(t *testing.T) {
	env := storeWithCustomers(t)
	files, _ := filepath.Glob("../../testdata/mail/*.eml")
	if len(files) < 20 {
		t.Fatalf("want at least 20 realistic emails, found %d", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".eml")
		t.Run(name, func(t *testing.T) {
			out, stderr, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", path)
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, stderr)
			}
			checkExplainJSON(t, name, out)
			golden := filepath.Join("testdata", "explain", name+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./cmd/supportd -run TestExplainGolden -update)", err)
			}
			if string(want) != out {
				t.Errorf("explain %s differs from %s:\n--- got\n%s\n--- want\n%s", path, golden, out, want)
			}
		})
	}
}

// Spot checks of the golden set that matter to users, so a careless -update cannot
// bless a wrong decision.
func TestExplainDecisions(t *testing.T) {
	env := storeWithCustomers(t)
	get := func(file, received string) map[string]any {
		out, stderr, err := cli(t, env, "explain", "--received", received, "../../testdata/mail/"+file)
		if err != nil {
			t.Fatalf("%s: %v\n%s", file, err, stderr)
		}
		return checkExplainJSON(t, file, out)
	}
	str := func(doc map[string]any, path ...string) any {
		var cur any = doc
		for _, p := range path {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		return cur
	}
	d := get("01-ticket-page.eml", "2026-11-25T10:00:00+10:30")
	if str(d, "ticket_id") != "CS-004211" || str(d, "action") != "acknowledge" || str(d, "entitlement", "status") != "active" {
		t.Errorf("ticket page mail: %v %v %v", str(d, "ticket_id"), str(d, "action"), str(d, "entitlement", "status"))
	}
	if str(d, "sla", "deadline") != "2026-11-25T12:00:00+10:30" || str(d, "sla", "target") != "2h" {
		t.Errorf("deadline %v target %v, want 2026-11-25T12:00:00+10:30 and 2h", str(d, "sla", "deadline"), str(d, "sla", "target"))
	}
	d = get("12-dsn-bounce.eml", "2026-11-25T10:00:00+10:30")
	if str(d, "action") != "suppress" || d["reply"] != nil || str(d, "sla", "deadline") != nil {
		t.Errorf("bounce: action %v reply %v deadline %v", str(d, "action"), d["reply"], str(d, "sla", "deadline"))
	}
	d = get("19-header-injection-subject.eml", "2026-11-25T10:00:00+10:30")
	if subj, _ := str(d, "reply", "subject").(string); strings.ContainsAny(subj, "\r\n") || subj == "" {
		t.Errorf("injection subject: %q", subj)
	}
	d = get("18-reply-to-other-domain.eml", "2026-11-25T10:00:00+10:30")
	if to, _ := str(d, "reply", "to").([]any); len(to) != 1 || to[0] != "bob.smith@acme.test" {
		t.Errorf("Reply-To hijack: reply to %v, want the From address", to)
	}
	// Globex's ASUP expires 2026-11-25: active all that day in Adelaide, lapsed after.
	d = get("02-outlook-html-table.eml", "2026-11-25T23:59:00+10:30")
	if str(d, "entitlement", "status") != "active" {
		t.Errorf("expiry day: status %v, want active", str(d, "entitlement", "status"))
	}
	d = get("02-outlook-html-table.eml", "2026-11-26T00:01:00+10:30")
	if str(d, "entitlement", "status") != "lapsed" || str(d, "action") != "lapsed_notice" {
		t.Errorf("day after expiry: %v %v, want lapsed lapsed_notice", str(d, "entitlement", "status"), str(d, "action"))
	}
	if cc, _ := str(d, "reply", "cc").([]any); len(cc) != 1 || cc[0] != "sales@vendor.test" {
		t.Errorf("lapsed notice cc %v, want sales", cc)
	}
}

func TestExplainErrors(t *testing.T) {
	env := storeWithCustomers(t)
	if _, _, err := cli(t, env, "explain", "--received", "yesterday", "../../testdata/mail/01-ticket-page.eml"); err == nil || !strings.Contains(err.Error(), "--received") {
		t.Errorf("bad --received: %v", err)
	}
	if _, _, err := cli(t, env, "explain", "/nonexistent.eml"); err == nil {
		t.Error("missing file must fail")
	}
	// No store yet: explain works on an empty one and creates nothing.
	path := filepath.Join(t.TempDir(), "absent.db")
	out, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + path}, "explain", "../../testdata/mail/01-ticket-page.eml")
	if err != nil {
		t.Fatal(err)
	}
	checkExplainJSON(t, "no store", out)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("explain created %s", path)
	}
}

// explain while `run` holds the store: it waits store.lock_timeout, then says so.
func TestExplainLockedStore(t *testing.T) {
	env := storeWithCustomers(t)
	path := strings.TrimPrefix(env[0], "SUPPORTD_STORE_PATH=")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, _, err = cli(t, append(env, "SUPPORTD_STORE_LOCK_TIMEOUT=200ms"), "explain", "../../testdata/mail/01-ticket-page.eml")
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("want a clear 'locked' error, got %v", err)
	}
}

// FuzzExplain runs parse + decide + render on arbitrary bytes: no panic, and the
// reply never carries CR/LF into a header.
func FuzzExplain(f *testing.F) {
	for _, dir := range []string{"../../testdata/mail", "../../testdata/enmime/mail"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	a := &app{cfg: config.Default(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	a.cfg.Store.Path = filepath.Join(f.TempDir(), "fuzz.db")
	env := []string{"SUPPORTD_STORE_PATH=" + a.cfg.Store.Path}
	if _, _, err := cli(f, env, "customers", "import", "../../testdata/customers.csv"); err != nil {
		f.Fatal(err)
	}
	eng, err := a.engine()
	if err != nil {
		f.Fatal(err)
	}
	db, err := store.Open(a.cfg.Store.Path, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	parser, err := a.cfg.Parser()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msg, err := parser.Parse(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("Parse of an in-memory reader failed: %v", err)
		}
		var asm *daemon.Assessment
		err = db.View(func(tx *store.Tx) error {
			asm, err = eng.Assess(tx, msg, fixedReceived, "fuzz", tx.PeekNextTicketID, nil)
			return err
		})
		if err != nil {
			t.Fatalf("Assess: %v", err)
		}
		if _, err := eng.RenderReply(asm); err != nil {
			t.Fatalf("RenderReply: %v", err)
		}
		x := asm.Explain(sla.FormatTarget)
		if x.Reply != nil {
			if strings.ContainsAny(x.Reply.Subject, "\r\n") {
				t.Fatalf("reply subject with CR/LF: %q", x.Reply.Subject)
			}
			for _, a := range append(append([]string{}, x.Reply.To...), x.Reply.Cc...) {
				if strings.ContainsAny(a, "\r\n<>,; ") {
					t.Fatalf("reply address unsafe for a header: %q", a)
				}
			}
		}
		if _, err := json.Marshal(x); err != nil {
			t.Fatalf("explanation does not marshal: %v", err)
		}
	})
}

// fixedReceived is Wednesday 25 November 2026, 10:00 in Adelaide.
var fixedReceived = mustTime("2026-11-25T10:00:00+10:30")

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// While `run` holds the store, explain (and every reading command) reads a
// consistent snapshot served by the daemon's loopback metrics listener.
func TestReadingCommandsWhileDaemonHoldsStore(t *testing.T) {
	env := storeWithCustomers(t)
	path := strings.TrimPrefix(env[0], "SUPPORTD_STORE_PATH=")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := poller.New(poller.Config{Address: "127.0.0.1:1", TLS: "none", Username: "u", Password: "p", SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := newAdminToken()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, addr, err := serveMetrics("127.0.0.1:0", daemon.NewMetrics(nil), healthOf(p, nil), &adminAPI{db: db, token: tok, log: log}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	removeToken, err := writeAdminToken(path, tok, addr)
	if err != nil {
		t.Fatal(err)
	}
	env = append(env, "SUPPORTD_METRICS_LISTEN="+addr, "SUPPORTD_STORE_LOCK_TIMEOUT=100ms")
	out, stderr, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", "../../testdata/mail/01-ticket-page.eml")
	if err != nil {
		t.Fatalf("explain beside a running daemon: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "snapshot") {
		t.Errorf("explain did not say it read a snapshot: %q", stderr)
	}
	doc := checkExplainJSON(t, "snapshot", out)
	if ent := doc["entitlement"].(map[string]any); ent["customer_id"] != "C100" {
		t.Errorf("snapshot lacks the customers: %v", ent)
	}

	// Writing commands go through the daemon: the change is in the daemon's store.
	if _, stderr, err := cli(t, env, "customers", "set", "C100", "--free5", "true", "--asup-expires", "2030-01-31"); err != nil {
		t.Fatalf("customers set beside a running daemon: %v\n%s", err, stderr)
	} else if !strings.Contains(stderr, "admin API") {
		t.Errorf("set did not say it went through the daemon: %q", stderr)
	}
	if _, _, err := cli(t, env, "customers", "set", "C999", "--free5", "true"); err == nil || !strings.Contains(err.Error(), "no customer C999") {
		t.Errorf("set of an unknown customer through the daemon: want \"no customer C999\", got %v", err)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--license", "gold"); err == nil || !strings.Contains(err.Error(), "--license") {
		t.Errorf("a bad value through the daemon must name the flag, got %v", err)
	}
	csv := filepath.Join(t.TempDir(), "more.csv")
	if err := os.WriteFile(csv, []byte("id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"+
		"C900,Night Shift Ltd,ops@night.test,night.test,enterprise,2028-01-01,,false,false,false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := cli(t, env, "customers", "import", csv); err != nil || !strings.Contains(out, "1 added") {
		t.Fatalf("import beside a running daemon: %v %q\n%s", err, out, stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"+
		"C901,Bad Row Ltd,x@bad.test,bad.test,gold,2028-01-01,,false,false,false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, env, "customers", "import", bad); err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "nothing imported") {
		t.Errorf("a bad CSV through the daemon must be refused naming the line, got %v", err)
	}
	err = db.View(func(tx *store.Tx) error {
		c, err := tx.Customer("C100")
		if err != nil || c == nil || !c.Free5 || c.ASUPExpires.String() != "2030-01-31" {
			t.Errorf("the daemon's store lacks the change: %+v %v", c, err)
		}
		if c, err := tx.Customer("C900"); err != nil || c == nil || c.Company != "Night Shift Ltd" {
			t.Errorf("the daemon's store lacks the imported customer: %+v %v", c, err)
		}
		if c, _ := tx.Customer("C901"); c != nil {
			t.Errorf("a refused import wrote a row: %+v", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A backup onto an existing file goes through the daemon too.
	existing := filepath.Join(t.TempDir(), "nightly.db")
	if err := os.WriteFile(existing, []byte("yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := cli(t, env, "backup", existing); err != nil || !strings.Contains(out, "from the running daemon") {
		t.Fatalf("backup over an existing file beside a running daemon: %v %q\n%s", err, out, stderr)
	}
	if _, err := store.VerifyBackupFile(existing); err != nil {
		t.Errorf("the backup is not a complete archive: %v", err)
	}
	if _, _, err := cli(t, env, "backup", path); err == nil || !strings.Contains(err.Error(), "store itself") {
		t.Errorf("a backup onto the live store must be refused, got %v", err)
	}

	// The token without its scheme, a token file naming a non-loopback address,
	// and a wrong token are all refused.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/backup", nil)
	req.Header.Set("Authorization", tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bare token without \"Bearer \" must get 401: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := os.WriteFile(adminTokenPath(path), []byte(`{"addr":"192.0.2.1:9465","token":"`+tok+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--free5", "false"); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("a token file naming a non-loopback address must not be used, got %v", err)
	}
	// Without the token (another user, or a stale daemon) nothing changes.
	if err := os.WriteFile(adminTokenPath(path), []byte(`{"addr":"`+addr+`","token":"not-the-token"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--free5", "false"); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("a wrong token must be refused, got %v", err)
	}
	if _, _, err := cli(t, env, "backup", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("a backup with a wrong token must be refused, got %v", err)
	}
	removeToken()
	if _, _, err := cli(t, env, "customers", "set", "C100", "--free5", "false"); err == nil || !strings.Contains(err.Error(), "admin token") {
		t.Errorf("a missing token file must be explained, got %v", err)
	}
	_ = db.View(func(tx *store.Tx) error {
		if c, _ := tx.Customer("C100"); c == nil || !c.Free5 {
			t.Errorf("a refused request changed the customer: %+v", c)
		}
		return nil
	})
}

// explain on a store that does not exist answers (every sender unknown) and
// says so on stderr: a mistyped --store must not pass for a real answer.
func TestExplainSaysTheStoreIsMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "typo.db")
	out, stderr, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + missing}, "explain", "../../testdata/mail/01-ticket-page.eml")
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, stderr)
	}
	var v struct {
		Entitlement struct{ Status string } `json:"entitlement"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Entitlement.Status != "unknown" {
		t.Errorf("stdout must stay the JSON (status unknown): %v\n%s", err, out)
	}
	if !strings.Contains(stderr, missing) || !strings.Contains(stderr, "does not exist") {
		t.Errorf("stderr does not name the missing store:\n%s", stderr)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("explain created the store: %v", err)
	}
}
