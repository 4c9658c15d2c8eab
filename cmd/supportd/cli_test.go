package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"supportd/store"
)

// `supportd demo` prints the table of the whole flow within seconds, offline.
func TestDemoPrintsTheFlow(t *testing.T) {
	out, stderr, err := cli(t, nil, "demo")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr)
	}
	want := map[string]*regexp.Regexp{
		"01-ticket-page.eml":    regexp.MustCompile(`CS-004211\s+active\s+P1\s+acknowledge\s+Wed 25 Nov 12:02 ACDT\s+to alice@acme.test: \[CS-004211\] Re:`),
		"02-weekend-globex.eml": regexp.MustCompile(`active\s+P1\s+acknowledge\s+Sun 29 Nov 21:15 ACDT`),
		"03-trial.eml":          regexp.MustCompile(`trial\s+P2\s+acknowledge\s+-\s+to peter@initech.test`),
		"04-free5.eml":          regexp.MustCompile(`free\s+P3\s+acknowledge`),
		"05-lapsed.eml":         regexp.MustCompile(`lapsed\s+P4\s+lapsed_notice\s+-\s+to gavin@hooli.test, sales@vendor.test`),
		"06-unknown.eml":        regexp.MustCompile(`unknown\s+P4\s+acknowledge`),
		"07-old-version.eml":    regexp.MustCompile(`unsupported_version`),
		"08-out-of-office.eml":  regexp.MustCompile(`suppress \(auto_submitted\).*none`),
		"09-bounce.eml":         regexp.MustCompile(`suppress \(.*none`),
		"10-follow-up.eml":      regexp.MustCompile(`CS-004211\s+active\s+P1\s+follow_up\s+-\s+none`),
		"11-gmail-contact.eml":  regexp.MustCompile(`bob@gmail.com\s+CS-M\d{5}\s+active\s+P1`),
		"12-mailing-list.eml":   regexp.MustCompile(`suppress \(.*none`),
		// Never bought is not lapsed (issue 10 item 3): its own notice, sales copied.
		"13-never-purchased.eml": regexp.MustCompile(`lapsed\s+P4\s+lapsed_notice \(never_purchased\)\s+-\s+to richard@piedpiper.test, sales@vendor.test`),
	}
	for file, re := range want {
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, file) {
				line = l
			}
		}
		if !re.MatchString(line) {
			t.Errorf("demo row of %s = %q, want it to match %s", file, line, re)
		}
	}
	if !strings.Contains(out, "13 messages processed") || !strings.Contains(out, "9 automatic replies") {
		t.Errorf("demo summary wrong:\n%s", out)
	}
	// The SLA step (issue 9): a message received now on a 2-second SLA gets
	// its warning, then its breach, at the staff queue, Overdue in IMAP, and
	// the `report sla` table follows.
	warn := regexp.MustCompile(`(?m)^  \d\d:\d\d:\d\d\.\d  to staff-queue@vendor.test: \[(CS-M\d{5})\] SLA warning: response due \d{4}-\d\d-\d\d \d\d:\d\d ACS?DT \((\+10:30|\+09:30)\)$`)
	breach := regexp.MustCompile(`(?m)^  \d\d:\d\d:\d\d\.\d  to staff-queue@vendor.test: \[(CS-M\d{5})\] SLA breached: response was due \d{4}-\d\d-\d\d \d\d:\d\d ACS?DT \((\+10:30|\+09:30)\)$`)
	w, b := warn.FindStringSubmatch(out), breach.FindStringSubmatch(out)
	if w == nil || b == nil || w[1] != b[1] || strings.Index(out, w[0]) > strings.Index(out, b[0]) {
		t.Errorf("demo does not show one ticket's SLA warning, then its breach:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^  IMAP flags of the message now .*\boverdue\b`).MatchString(out) {
		t.Errorf("demo does not show the Overdue keyword of the SLA step's message:\n%s", out)
	}
	report := regexp.MustCompile(`(?m)^\$ supportd report sla\nSLA report, tickets created \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(Australia/Adelaide\)\n\s+STATUS\s+TICKETS\s+RESPONDED\s+MET\s+BREACHED\s+OPEN OVERDUE\s+FIRST RESPONSE P50\s+P90\n\s+active\s+(\d+)\s+\d+\s+\d+\s+(\d+)\s+(\d+)\s`)
	if m := report.FindStringSubmatch(out); m == nil || m[2] == "0" || m[3] == "0" {
		t.Errorf("demo does not end with the report sla table counting the breached, still open ticket:\n%s", out)
	}

	for _, want := range []string{"to sales@vendor.test: [CS-M00004] Quote request: Hooli Ltd", "to sales@vendor.test: [CS-M00008] Quote request: Pied Piper"} {
		if !strings.Contains(out, "Sales brief (internal, beside the lapsed and never-purchased notices) "+want) {
			t.Errorf("demo does not show the sales brief %q:\n%s", want, out)
		}
	}
}

func TestCustomersCLI(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(dir, "s.db")}
	out, _, err := cli(t, env, "customers", "import", "../../testdata/customers.csv")
	if err != nil || !strings.Contains(out, "5 added") {
		t.Fatalf("import: %v %q", err, out)
	}
	out, _, err = cli(t, env, "customers", "import", "../../testdata/customers.csv")
	if err != nil || !strings.Contains(out, "0 added, 0 updated, 5 unchanged") {
		t.Fatalf("re-import must change nothing: %v %q", err, out)
	}
	// A bad row: nothing imported, the line named.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"+
		"C900,New Co,,new.test,enterprise,2027-01-01,,false,false,false\n"+
		"C901,Bad Co,,bad.test,enterprise,2027-13-01,,false,false,false\n"), 0o600)
	if _, _, err := cli(t, env, "customers", "import", bad); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad import: want an error naming line 3, got %v", err)
	}
	if _, _, err := cli(t, env, "customers", "show", "C900"); err == nil {
		t.Fatal("C900 imported from a file with errors: import must be all or nothing")
	}
	// A first import that fails leaves no store behind (it would stand in
	// the way of a restore); an existing store stays.
	fresh := filepath.Join(dir, "fresh.db")
	if _, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + fresh}, "customers", "import", bad); err == nil {
		t.Fatal("bad first import succeeded")
	}
	if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed first import left %s: %v", fresh, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "s.db")); err != nil {
		t.Errorf("a failed import into an existing store removed it: %v", err)
	}
	// Export imports back identically.
	exp, _, err := cli(t, env, "customers", "export")
	if err != nil {
		t.Fatal(err)
	}
	round := filepath.Join(dir, "round.csv")
	os.WriteFile(round, []byte(exp), 0o600)
	env2 := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(dir, "s2.db")}
	if _, _, err := cli(t, env2, "customers", "import", round); err != nil {
		t.Fatal(err)
	}
	exp2, _, _ := cli(t, env2, "customers", "export")
	if exp != exp2 {
		t.Fatalf("export → import → export differs:\n%s\n---\n%s", exp, exp2)
	}
	// set, show, list.
	if _, _, err := cli(t, env, "customers", "set", "C500", "--asup-expires", "2030-01-31", "--extended-support", "true"); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, env, "customers", "show", "C500")
	if err != nil || !strings.Contains(out, "2030-01-31") || !regexp.MustCompile(`extended_support\s+true`).MatchString(out) {
		t.Fatalf("show after set: %v\n%s", err, out)
	}
	if _, _, err := cli(t, env, "customers", "set", "C500", "--asup-expires", "soon"); err == nil || !strings.Contains(err.Error(), "--asup-expires") {
		t.Fatalf("bad date: %v", err)
	}
	if _, _, err := cli(t, env, "customers", "set", "C999", "--free5", "true"); err == nil {
		t.Fatal("set of an unknown customer without --create must fail")
	}
	out, _, err = cli(t, env, "customers", "list")
	if err != nil || !strings.Contains(out, "Hooli Ltd") || !strings.Contains(out, "C100") {
		t.Fatalf("list: %v\n%s", err, out)
	}
}

func TestTicketsAndBackupCLI(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 24, 23, 30, 0, 0, time.UTC)
	err = db.Update(func(tx *store.Tx) error {
		return tx.PutTicket(&store.Ticket{ID: "CS-004211", Subject: "Error adding list", From: "alice@acme.test", Status: "active",
			Priority: 1, State: store.StateOpen, Created: created, Updated: created, Deadline: created.Add(2 * time.Hour),
			Messages: []store.TicketMessage{{MessageID: "a@acme.test", UID: 7, Received: created, Action: "acknowledge", Direction: store.DirectionIn}}})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"SUPPORTD_STORE_PATH=" + path}
	out, _, err := cli(t, env, "tickets", "list", "--open")
	if err != nil || !regexp.MustCompile(`CS-004211\s+open\s+P1\s+active\s+alice@acme.test`).MatchString(out) {
		t.Fatalf("tickets list: %v\n%s", err, out)
	}
	out, _, err = cli(t, env, "tickets", "show", "CS-004211")
	if err != nil || !strings.Contains(out, "a@acme.test") || !strings.Contains(out, "acknowledge") {
		t.Fatalf("tickets show: %v\n%s", err, out)
	}
	// Times read in support.timezone (Adelaide, +10:30 in November), as in replies.
	if !strings.Contains(out, "2026-11-25 10:00 +10:30") || !strings.Contains(out, "2026-11-25 12:00 +10:30") {
		t.Errorf("tickets show: created/deadline not in support.timezone:\n%s", out)
	}
	if _, _, err := cli(t, env, "tickets", "show", "CS-999999"); err == nil {
		t.Fatal("unknown ticket must fail")
	}
	bak := filepath.Join(dir, "backup.db")
	if _, _, err := cli(t, env, "backup", bak); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(bak)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, err %v; want 0600", st.Mode().Perm(), err)
	}
	restored := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(dir, "restored.db")}
	if _, _, err := cli(t, restored, "restore", bak); err != nil {
		t.Fatal(err)
	}
	out, _, err = cli(t, restored, "tickets", "show", "CS-004211")
	if err != nil || !strings.Contains(out, "Error adding list") {
		t.Fatalf("backup does not hold the ticket: %v\n%s", err, out)
	}
}

func TestConfigCheckCommand(t *testing.T) {
	out, _, err := cli(t, nil, "--config", "../../config.example.yaml", "config", "check")
	if err != nil || !strings.Contains(out, "configuration OK") {
		t.Fatalf("config check of the example: %v\n%s", err, out)
	}
	bad := writeConfig(t, "sla:\n  clock: wallclock\nimap:\n  tls: none\n")
	_, _, err = cli(t, nil, "--config", bad, "config", "check")
	if err == nil || !strings.Contains(err.Error(), "sla.clock") || !strings.Contains(err.Error(), "imap.tls") {
		t.Fatalf("want errors naming sla.clock and imap.tls, got %v", err)
	}
	loop := writeConfig(t, "imap:\n  address: 127.0.0.1:143\n  tls: none\n")
	out, _, err = cli(t, nil, "--config", loop, "config", "check")
	if err != nil || !strings.Contains(out, "imap.tls: none") {
		t.Fatalf("tls none on loopback must pass with a warning: %v\n%s", err, out)
	}
}

// Mistakes in the command line exit 2, failures of the work exit 1, so scripts and
// systemd can tell them apart.
func TestExitCodes(t *testing.T) {
	env := storeWithCustomers(t)
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"frobnicate"}, 2},
		{[]string{"explain"}, 2},
		{[]string{"explain", "--no-such-flag", "x.eml"}, 2},
		{[]string{"explain", "--received", "yesterday", "../../testdata/mail/01-ticket-page.eml"}, 2},
		{[]string{"tickets", "show"}, 2},
		{[]string{"config", "chek"}, 2}, // an unknown subcommand of a group, not its help
		{[]string{"customers", "improt", "x.csv"}, 2},
		{[]string{"customers", "set", "C100", "--asup-expires", "2027-13-01"}, 2},
		{[]string{"customers", "set", "C100", "--free5", "maybe"}, 2},
		{[]string{"backup", "-"}, 2}, // the archive goes to a file, renamed into place
		{[]string{"backup", "."}, 2}, // a directory
		{[]string{"customers", "show", "C999"}, 1},
		{[]string{"explain", "no-such-file.eml"}, 1},
	}
	for _, tc := range cases {
		_, _, err := cli(t, env, tc.args...)
		if err == nil {
			t.Errorf("%v: succeeded, want exit %d", tc.args, tc.want)
			continue
		}
		if got := exitCode(err); got != tc.want {
			t.Errorf("%v: exit %d (%v), want %d", tc.args, got, err, tc.want)
		}
	}
}

func TestCustomerSubscriptionsCLI(t *testing.T) {
	env := storeWithCustomers(t)
	if _, _, err := cli(t, env, "customers", "set", "C100", "--remote-sites", "true", "--asup-expires", "2099-12-31"); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, env, "customers", "show", "C100")
	if err != nil || !regexp.MustCompile(`subscriptions\s+remote_sites \(in force until 2099-12-31\)`).MatchString(out) {
		t.Fatalf("show after set --remote-sites: %v\n%s", err, out)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--asup-expires", "2020-01-31"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = cli(t, env, "customers", "show", "C100")
	if !strings.Contains(out, "remote_sites (ended with ASUP 2020-01-31)") {
		t.Errorf("a subscription must end with ASUP:\n%s", out)
	}
	out, _, err = cli(t, env, "customers", "export")
	if err != nil || !strings.HasPrefix(out, "id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module,reset_portal,remote_sites\n") {
		t.Errorf("export with a subscription: %v\n%.200s", err, out)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--reset-portal", "maybe"); err == nil || !strings.Contains(err.Error(), "--reset-portal") {
		t.Errorf("a bad value must name the flag, got %v", err)
	}
}

// A token file left by a killed daemon is deleted by the first CLI that holds
// the write lock, so nobody later sends the token to whoever took the port.
func TestStaleAdminTokenRemoved(t *testing.T) {
	env := storeWithCustomers(t)
	path := strings.TrimPrefix(env[0], "SUPPORTD_STORE_PATH=")
	remove, err := writeAdminToken(path, "stale", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	if _, err := os.Stat(adminTokenPath(path)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, env, "customers", "set", "C100", "--free5", "true"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(adminTokenPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale admin token still there after a CLI held the write lock: %v", err)
	}
}

// config check is strict about SUPPORTD_* variables that name no key; the other
// commands only warn.
func TestConfigCheckRefusesUnknownEnv(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(dir, "s.db"), "SUPPORTD_IMAP_INSECURE_SKIP_VERIFY=true"}
	if _, _, err := cli(t, env, "config", "check"); err == nil || !strings.Contains(err.Error(), "SUPPORTD_IMAP_INSECURE_SKIP_VERIFY") {
		t.Errorf("config check must refuse and name the variable, got %v", err)
	}
	if _, _, err := cli(t, env, "customers", "import", "../../testdata/customers.csv"); err != nil {
		t.Errorf("other commands must only warn: %v", err)
	}
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "supportd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `config check` runs exactly the validation `run` runs (docs/design.md §11): each case
// below is refused by both, with the same error naming the key, and a
// configuration both accept really starts.
func TestConfigCheckIsRunsValidation(t *testing.T) {
	dir := t.TempDir()
	override := filepath.Join(dir, "tmpl")
	if err := os.MkdirAll(override, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(override, "ack_active.tmpl"), []byte("Dear {{.Nmae}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "store:\n  path: " + filepath.Join(dir, "s.db") + "\nimap:\n  address: 127.0.0.1:1\n  tls: none\n  password: x\n" +
		"smtp:\n  address: 127.0.0.1:1\n  tls: none\nmetrics:\n  listen: \"\"\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"empty imap.username", "imap:\n  username: \"\"\n", "imap.username"},
		{"missing imap.password_file", "imap:\n  password: \"\"\n  password_file: " + filepath.Join(dir, "absent") + "\n", "imap.password_file"},
		{"missing templates.dir", "templates:\n  dir: " + filepath.Join(dir, "no-such-dir") + "\n", "templates.dir"},
		{"template override with a typo", "templates:\n  dir: " + override + "\n", "Nmae"},
		{"smtp.from not an address", "smtp:\n  from: \"not an address\"\n", "smtp.from"},
		{"metrics on all interfaces", "metrics:\n  listen: 0.0.0.0:9465\n", "metrics.listen"},
		{"staff queue is our own address", "support:\n  staff_queue: Support@vendor.test\n", "support.staff_queue"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, mergeYAML(t, base, tc.yaml))
			_, _, checkErr := cli(t, nil, "--config", cfg, "config", "check")
			if checkErr == nil || !strings.Contains(checkErr.Error(), tc.want) {
				t.Fatalf("config check: want an error naming %q, got %v", tc.want, checkErr)
			}
			_, _, runErr := cliTimeout(t, 5*time.Second, nil, "--config", cfg, "run")
			if runErr == nil || runErr.Error() != checkErr.Error() {
				t.Fatalf("run must fail exactly as config check does:\nrun:   %v\ncheck: %v", runErr, checkErr)
			}
		})
	}
	t.Run("no configuration file", func(t *testing.T) {
		env := []string{"SUPPORTD_STORE_PATH=" + filepath.Join(dir, "d.db")}
		for _, cmd := range [][]string{{"config", "check"}, {"run"}} {
			if _, _, err := cliTimeout(t, 5*time.Second, env, cmd...); err == nil || !strings.Contains(err.Error(), "no configuration file") {
				t.Errorf("%v without a file: want \"no configuration file\", got %v", cmd, err)
			}
		}
		if out, _, err := cli(t, env, "config", "check", "--defaults"); err != nil || !strings.Contains(out, "configuration OK") {
			t.Errorf("config check --defaults: %v\n%s", err, out)
		}
	})
	t.Run("remote metrics allowed", func(t *testing.T) {
		cfg := writeConfig(t, mergeYAML(t, base, "metrics:\n  listen: 0.0.0.0:9465\n  allow_remote: true\n"))
		if out, _, err := cli(t, nil, "--config", cfg, "config", "check"); err != nil || !strings.Contains(out, "configuration OK") {
			t.Errorf("metrics.allow_remote: true must be accepted: %v\n%s", err, out)
		}
	})
	t.Run("accepted config runs", func(t *testing.T) {
		cfg := writeConfig(t, base)
		if out, _, err := cli(t, nil, "--config", cfg, "config", "check"); err != nil || !strings.Contains(out, "configuration OK") {
			t.Fatalf("config check of the base: %v\n%s", err, out)
		}
		// run gets past its checks and keeps retrying the closed IMAP port
		// until the context ends: no error of its own.
		if _, stderr, err := cliTimeout(t, 2*time.Second, nil, "--config", cfg, "run"); err != nil {
			t.Fatalf("run of a configuration config check accepts: %v\n%s", err, stderr)
		}
	})
}

// mergeYAML overlays the sections of extra on base (one level: a section of
// extra replaces or adds keys of the same section of base).
func mergeYAML(t *testing.T, base, extra string) string {
	t.Helper()
	sections := map[string][]string{}
	var order []string
	add := func(doc string) {
		cur := ""
		for _, line := range strings.Split(doc, "\n") {
			if line == "" {
				continue
			}
			if !strings.HasPrefix(line, " ") {
				cur = line
				if _, ok := sections[cur]; !ok {
					order = append(order, cur)
					sections[cur] = nil
				}
				continue
			}
			key := strings.TrimSpace(line[:strings.IndexByte(line, ':')])
			kept := sections[cur][:0]
			for _, l := range sections[cur] {
				if strings.TrimSpace(l[:strings.IndexByte(l, ':')]) != key {
					kept = append(kept, l)
				}
			}
			sections[cur] = append(kept, line)
		}
	}
	add(base)
	add(extra)
	var b strings.Builder
	for _, s := range order {
		b.WriteString(s + "\n")
		for _, l := range sections[s] {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// cliTimeout is cli with a context that ends after d (for run).
func cliTimeout(t testing.TB, d time.Duration, env []string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb, env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// The README's command table is one table (no paragraph breaks it) and has a
// row for every command.
func TestREADMECommandTable(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	start := slices.Index(lines, "| command | what it does |")
	if start < 0 {
		t.Fatal("README has no command table")
	}
	var table []string
	for _, l := range lines[start:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		table = append(table, l)
	}
	rows := strings.Join(table, "\n")
	for _, c := range newRootCmd(io.Discard, io.Discard, nil).Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if !strings.Contains(rows, "| `supportd "+c.Name()) {
			t.Errorf("the README command table (%d rows) has no row for `supportd %s`", len(table)-2, c.Name())
		}
	}
}
