package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"supportd/daemon"
	"supportd/poller"
	"supportd/store"
)

// `supportd version` and `--version` print the module version or the VCS
// revision with a dirty mark, and the Go version (docs/design.md §11).
func TestVersion(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	cases := []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, "supportd v1.4.0 (go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}}, "supportd 0123456789ab+dirty (go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "false"}}}, "supportd 0123456789ab (go1.26.8)"},
		{debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "supportd devel (go1.26.8)"},
	}
	for _, tc := range cases {
		if got := versionText(&tc.bi, true); got != tc.want {
			t.Errorf("versionText = %q, want %q", got, tc.want)
		}
	}
	sub, _, err := cli(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	flag, _, err := cli(t, nil, "--version")
	if err != nil {
		t.Fatal(err)
	}
	if sub != flag || !strings.HasPrefix(sub, "supportd ") || !strings.Contains(sub, runtime.Version()) {
		t.Errorf("version %q and --version %q must agree and name %s", sub, flag, runtime.Version())
	}
}

// `explain -` reads the message from stdin; --received takes Z (either case)
// and times without seconds.
func TestExplainStdinAndReceivedZ(t *testing.T) {
	env := storeWithCustomers(t)
	const file = "../../testdata/mail/01-ticket-page.eml"
	want, _, err := cli(t, env, "explain", "--received", "2026-11-25T10:00:00+10:30", file)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, received := range []string{"2026-11-24T23:30:00Z", "2026-11-24t23:30:00z", "2026-11-24T23:30Z", "2026-11-25T10:00+10:30"} {
		var out, errb bytes.Buffer
		root := newRootCmd(&out, &errb, env)
		root.SetIn(bytes.NewReader(raw))
		root.SetArgs([]string{"explain", "--received", received, "-"})
		if err := root.Execute(); err != nil {
			t.Fatalf("explain --received %s -: %v\n%s", received, err, errb.String())
		}
		if out.String() != want {
			t.Errorf("explain --received %s - (stdin) differs from the file at +10:30:\n%s\nwant\n%s", received, out.String(), want)
		}
	}
	if _, _, err := cli(t, env, "explain", "--received", "yesterday", file); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "--received") {
		t.Errorf("a bad --received must be a usage error naming the flag, got %v", err)
	}
}

// `customers show` finds a customer by id, contact or domain; `customers set`
// says when nothing changes; `customers delete` removes one.
func TestCustomersShowSetDelete(t *testing.T) {
	env := storeWithCustomers(t)
	for _, key := range []string{"C100", "it@acme.test", "IT@Acme.Test", "acme-corp.test"} {
		out, _, err := cli(t, env, "customers", "show", key)
		if err != nil || !strings.Contains(out, "C100") || !strings.Contains(out, "Acme Pty Ltd") {
			t.Errorf("customers show %s: %v\n%s", key, err, out)
		}
	}
	if _, _, err := cli(t, env, "customers", "show", "nobody@nowhere.test"); err == nil || !strings.Contains(err.Error(), "no customer") {
		t.Errorf("show of an unknown contact: got %v", err)
	}

	if _, _, err := cli(t, env, "customers", "set", "C100"); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("set without a field: want a usage error saying nothing to change, got %v", err)
	}
	out, _, err := cli(t, env, "customers", "set", "C100", "--asup-expires", "2027-06-30", "--company", "Acme Pty Ltd")
	if err != nil || !strings.Contains(out, "unchanged") {
		t.Errorf("set to the values it has: want \"unchanged\", got %v %q", err, out)
	}
	out, _, err = cli(t, env, "customers", "set", "C100", "--asup-expires", "2028-06-30")
	if err != nil || !strings.Contains(out, "updated") {
		t.Errorf("set of a new value: want \"updated\", got %v %q", err, out)
	}

	out, _, err = cli(t, env, "customers", "delete", "C100")
	if err != nil || !strings.Contains(out, "C100 deleted") {
		t.Fatalf("delete: %v %q", err, out)
	}
	for _, key := range []string{"C100", "it@acme.test", "acme.test"} {
		if _, _, err := cli(t, env, "customers", "show", key); err == nil {
			t.Errorf("show %s after the delete still finds it", key)
		}
	}
	if _, _, err := cli(t, env, "customers", "delete", "C100"); err == nil || !strings.Contains(err.Error(), "no customer C100") {
		t.Errorf("a second delete: got %v", err)
	}
}

// The same through a running daemon's admin API, and a backup to a path that
// cannot be written blames the path, not the daemon.
func TestCustomersAndBackupThroughDaemon(t *testing.T) {
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
	remove, err := writeAdminToken(path, tok, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	env = append(env, "SUPPORTD_METRICS_LISTEN="+addr, "SUPPORTD_STORE_LOCK_TIMEOUT=100ms")

	if out, _, err := cli(t, env, "customers", "set", "C100", "--extended-support", "true"); err != nil || !strings.Contains(out, "unchanged") {
		t.Errorf("set to the value it has, through the daemon: want \"unchanged\", got %v %q", err, out)
	}
	if out, _, err := cli(t, env, "customers", "set", "C100", "--extended-support", "false"); err != nil || !strings.Contains(out, "updated") {
		t.Errorf("set through the daemon: want \"updated\", got %v %q", err, out)
	}
	if out, _, err := cli(t, env, "customers", "delete", "C200"); err != nil || !strings.Contains(out, "C200 deleted") {
		t.Errorf("delete through the daemon: %v %q", err, out)
	}
	if _, _, err := cli(t, env, "customers", "delete", "C200"); err == nil || !strings.Contains(err.Error(), "no customer C200") {
		t.Errorf("a second delete through the daemon: got %v", err)
	}
	_ = db.View(func(tx *store.Tx) error {
		if c, _ := tx.Customer("C200"); c != nil {
			t.Error("C200 is still in the daemon's store")
		}
		if c, _ := tx.Customer("C100"); c == nil || c.ExtendedSupport {
			t.Errorf("C100 in the daemon's store: %+v", c)
		}
		return nil
	})

	bad := filepath.Join(t.TempDir(), "no-such-dir", "nightly.db")
	_, _, err = cli(t, env, "backup", bad)
	if err == nil || !strings.Contains(err.Error(), "backup to "+bad) || !strings.Contains(err.Error(), "no such file or directory") ||
		strings.Contains(err.Error(), "running supportd") {
		t.Errorf("a backup to a missing directory must name the path and the cause, not the daemon: %v", err)
	}
}

// `demo --keep DIR` and `demo --store FILE` keep the demo's store for
// inspection; an existing file is refused rather than mixed with the demo.
func TestDemoKeepsStore(t *testing.T) {
	dir := t.TempDir()
	out, stderr, err := cli(t, nil, "demo", "--keep", dir)
	if err != nil {
		t.Fatalf("demo --keep: %v\n%s", err, stderr)
	}
	kept := filepath.Join(dir, "demo.db")
	if !strings.Contains(out, "kept at "+kept) {
		t.Errorf("demo does not say where the store is:\n%s", out)
	}
	list, _, err := cli(t, []string{"SUPPORTD_STORE_PATH=" + kept}, "tickets", "list")
	if err != nil || !strings.Contains(list, "CS-M00001") {
		t.Errorf("the kept store has no tickets: %v\n%s", err, list)
	}
	if _, _, err := cli(t, nil, "demo", "--keep", dir); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second demo into the same store must be refused, got %v", err)
	}
	file := filepath.Join(dir, "named.db")
	start := time.Now()
	if _, stderr, err := cli(t, nil, "--store", file, "demo"); err != nil {
		t.Fatalf("demo --store: %v\n%s", err, stderr)
	}
	if st, err := os.Stat(file); err != nil || st.ModTime().Before(start.Add(-time.Second)) {
		t.Errorf("demo --store did not keep %s: %v", file, err)
	}
}
