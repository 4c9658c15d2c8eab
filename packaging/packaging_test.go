// Package packaging holds the tests of what ships: the systemd unit
// (supportd.service), `make install` and the .deb built by `make deb`.
package packaging

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"supportd/internal/testenv"
)

// root is the repository root (the tests run make there).
func root(t testing.TB) string {
	t.Helper()
	r, err := testenv.ProjectRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// supportdBinary builds cmd/supportd once for the package's tests.
func supportdBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "supportd-packaging-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "supportd")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/supportd")
		cmd.Dir = root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// supportd is a command running bin without the SUPPORTD_ variables of the
// test's environment (SUPPORTD_REQUIRE_SERVERS is no configuration key).
func supportd(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SUPPORTD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// unitSettings parses a unit file into section.Key → values (a key may repeat).
func unitSettings(t testing.TB, text string) map[string][]string {
	t.Helper()
	m := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line without '=': %q", line)
			}
			m[section+"."+k] = append(m[section+"."+k], v)
		}
	}
	return m
}

// checkUnitSettings asserts the settings the operator guide promises.
func checkUnitSettings(t *testing.T, text, execStart string) {
	t.Helper()
	s := unitSettings(t, text)
	want := map[string]string{
		"Service.Type":                    "notify",
		"Service.StateDirectory":          "supportd",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectHome":             "yes",
		"Service.PrivateTmp":              "yes",
		"Service.NoNewPrivileges":         "yes",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"Service.CapabilityBoundingSet":   "",
		"Service.User":                    "supportd",
		"Service.ExecStart":               execStart + " --config /etc/supportd/supportd.yaml run",
	}
	for k, v := range want {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly %q", k, got, v)
		}
	}
	if wd := s["Service.WatchdogSec"]; len(wd) != 1 || wd[0] == "" || wd[0] == "0" {
		t.Errorf("WatchdogSec = %q, want a watchdog", wd)
	}
	if f := s["Service.SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", f)
	}
}

// verifyUnit runs `systemd-analyze verify` on a copy of the unit whose
// ExecStart names bin (verify insists that the binary exists): the check
// passes only with exit status 0 and no output at all, since verify reports
// an unparsable setting ("Failed to parse …, ignoring") yet exits 0.
func verifyUnit(t *testing.T, unit []byte, installedBin, bin string) error {
	t.Helper()
	sa := testenv.Tool(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	dir := t.TempDir()
	text := strings.ReplaceAll(string(unit), "ExecStart="+installedBin+" ", "ExecStart="+bin+" ")
	path := filepath.Join(dir, "supportd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	return nil
}

var exposureRE = regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+) `)

// exposure runs `systemd-analyze security --offline=true` and returns the
// overall exposure (0 best, 10 worst); --threshold=25 also makes the command
// itself fail above 2.5.
func exposure(t *testing.T, unit []byte) (float64, string, error) {
	t.Helper()
	sa := testenv.Tool(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	path := filepath.Join(t.TempDir(), "supportd.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "security", "--offline=true", "--threshold=25", "--no-pager", path).CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in the output of systemd-analyze security: %v\n%s", err, out)
	}
	v, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil {
		t.Fatal(perr)
	}
	return v, string(out), err
}

// The unit in the repository: the promised settings, `systemd-analyze verify`
// clean, and `systemd-analyze security` exposure at most 2.5 ("OK").
func TestUnitVerifiesAndIsHardened(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(root(t), "packaging", "supportd.service"))
	if err != nil {
		t.Fatal(err)
	}
	checkUnitSettings(t, string(unit), "/usr/bin/supportd")
	if err := verifyUnit(t, unit, "/usr/bin/supportd", supportdBinary(t)); err != nil {
		t.Error(err)
	}
	v, out, err := exposure(t, unit)
	if err != nil || v > 2.5 {
		t.Errorf("exposure %.1f (want ≤ 2.5), systemd-analyze: %v\n%s", v, err, out)
	}
	t.Logf("systemd-analyze security --offline=true: overall exposure %.1f", v)

	// The checks can fail: a setting verify cannot parse, and the unit
	// stripped of its hardening.
	broken := bytes.Replace(unit, []byte("WatchdogSec=120s"), []byte("WatchdogSec=two minutes"), 1)
	if err := verifyUnit(t, broken, "/usr/bin/supportd", supportdBinary(t)); err == nil {
		t.Error("verify accepted WatchdogSec=two minutes")
	}
	var bare bytes.Buffer
	for _, line := range strings.SplitAfter(string(unit), "\n") {
		if strings.HasPrefix(line, "Protect") || strings.HasPrefix(line, "Private") || strings.HasPrefix(line, "Restrict") ||
			strings.HasPrefix(line, "SystemCall") || strings.HasPrefix(line, "CapabilityBoundingSet") || strings.HasPrefix(line, "User=") {
			continue
		}
		bare.WriteString(line)
	}
	if v, _, err := exposure(t, bare.Bytes()); err == nil || v <= 2.5 {
		t.Errorf("the unit without its hardening rated %.1f (err %v): the exposure check cannot fail", v, err)
	}
}

// `make install DESTDIR=… PREFIX=…` puts every file under DESTDIR with the
// right mode, and the installed unit names the installed binary.
func TestMakeInstall(t *testing.T) {
	destdir := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "install", "DESTDIR="+destdir, "PREFIX=/opt/supportd", "SYSCONFDIR=/etc")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	files := map[string]os.FileMode{
		"/opt/supportd/bin/supportd":                        0o755,
		"/opt/supportd/lib/systemd/system/supportd.service": 0o644,
		"/opt/supportd/lib/sysusers.d/supportd.conf":        0o644,
		"/etc/supportd/supportd.example.yaml":               0o644,
		"/opt/supportd/share/doc/supportd/operations.md":    0o644,
	}
	var found []string
	filepath.WalkDir(destdir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, strings.TrimPrefix(p, destdir))
		}
		return nil
	})
	if len(found) != len(files) {
		t.Errorf("installed files %q, want exactly %d", found, len(files))
	}
	for f, mode := range files {
		st, err := os.Stat(filepath.Join(destdir, f))
		if err != nil {
			t.Errorf("make install: %v", err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), mode)
		}
	}
	unit, err := os.ReadFile(filepath.Join(destdir, "/opt/supportd/lib/systemd/system/supportd.service"))
	if err != nil {
		t.Fatal(err)
	}
	checkUnitSettings(t, string(unit), "/opt/supportd/bin/supportd")
	if !strings.Contains(string(unit), "Documentation=file:/opt/supportd/share/doc/supportd/operations.md") {
		t.Error("installed unit does not point at the installed operator guide")
	}
	if err := verifyUnit(t, unit, "/opt/supportd/bin/supportd", filepath.Join(destdir, "/opt/supportd/bin/supportd")); err != nil {
		t.Error(err)
	}
	out, err := supportd(filepath.Join(destdir, "/opt/supportd/bin/supportd"), "--config",
		filepath.Join(destdir, "/etc/supportd/supportd.example.yaml"), "config", "check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("installed binary with the installed example configuration: %v\n%s", err, out)
	}
}

// `make deb` builds a .deb that dpkg-deb reads: control fields, conffiles,
// maintainer scripts, the file list with modes and owners, and the unpacked
// files (binary runs, unit and example configuration are the repository's).
func TestDebPackage(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb", "/usr/bin/dpkg-deb")
	dist := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "deb", "DIST="+dist, "DEB_VERSION=1.2.3~test1")
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %q, want one .deb", debs)
	}
	deb := debs[0]
	if want := "supportd_1.2.3~test1_" + runtime.GOARCH + ".deb"; filepath.Base(deb) != want {
		t.Errorf("package file %s, want %s", filepath.Base(deb), want)
	}

	info, err := exec.Command(dpkgDeb, "--info", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}
	for _, field := range []string{"Package: supportd", "Version: 1.2.3~test1", "Architecture: " + runtime.GOARCH, "Section: mail", "Maintainer: "} {
		if !strings.Contains(string(info), field) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", field, info)
		}
	}
	for _, script := range []string{"postinst", "prerm", "postrm", "conffiles"} {
		if !regexp.MustCompile(`(?m)^\s+\d+ bytes,\s+\d+ lines\s+\*?\s+` + script + `\b`).Match(info) {
			t.Errorf("dpkg-deb --info: no %s in the control archive:\n%s", script, info)
		}
	}
	ctrl := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "--control", deb, ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(ctrl, "conffiles")); strings.TrimSpace(string(b)) != "/etc/supportd/supportd.example.yaml" {
		t.Errorf("conffiles = %q, want the example configuration", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ctrl, "postinst")); !strings.Contains(string(b), "systemd-sysusers supportd.conf") {
		t.Errorf("postinst does not create the supportd user:\n%s", b)
	}

	contents, err := exec.Command(dpkgDeb, "--contents", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, contents)
	}
	wantFiles := map[string]string{ // path → mode as tar shows it
		"./usr/bin/supportd":                        "-rwxr-xr-x",
		"./usr/lib/systemd/system/supportd.service": "-rw-r--r--",
		"./usr/lib/sysusers.d/supportd.conf":        "-rw-r--r--",
		"./etc/supportd/supportd.example.yaml":      "-rw-r--r--",
		"./usr/share/doc/supportd/operations.md":    "-rw-r--r--",
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(contents)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", line)
		}
		if f[1] != "root/root" {
			t.Errorf("%s owned by %s, want root/root", f[len(f)-1], f[1])
		}
		if !strings.HasPrefix(f[0], "d") {
			listed[f[len(f)-1]] = f[0]
		}
	}
	if len(listed) != len(wantFiles) {
		t.Errorf("package files %v, want exactly %d", listed, len(wantFiles))
	}
	for p, mode := range wantFiles {
		if listed[p] != mode {
			t.Errorf("%s: listed as %q, want %q", p, listed[p], mode)
		}
	}

	x := t.TempDir()
	if out, err := exec.Command(dpkgDeb, "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	for p, mode := range wantFiles {
		st, err := os.Stat(filepath.Join(x, p))
		if err != nil {
			t.Errorf("unpacked: %v", err)
			continue
		}
		if got := st.Mode().String(); got != mode {
			t.Errorf("unpacked %s: mode %s, want %s", p, got, mode)
		}
	}
	for unpacked, repo := range map[string]string{
		"usr/lib/systemd/system/supportd.service": "packaging/supportd.service",
		"etc/supportd/supportd.example.yaml":      "config.example.yaml",
		"usr/lib/sysusers.d/supportd.conf":        "packaging/supportd.sysusers",
	} {
		a, _ := os.ReadFile(filepath.Join(x, unpacked))
		b, err := os.ReadFile(filepath.Join(root(t), repo))
		if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("unpacked %s differs from %s", unpacked, repo)
		}
	}
	bin := filepath.Join(x, "usr/bin/supportd")
	out, err := supportd(bin, "--config", filepath.Join(x, "etc/supportd/supportd.example.yaml"), "config", "check").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK") {
		t.Errorf("the packaged binary with the packaged example configuration: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join(x, "usr/lib/systemd/system/supportd.service"))
	checkUnitSettings(t, string(unit), "/usr/bin/supportd")
	if err := verifyUnit(t, unit, "/usr/bin/supportd", bin); err != nil {
		t.Errorf("the packaged unit: %v", err)
	}
	if v, out, err := exposure(t, unit); err != nil || v > 2.5 {
		t.Errorf("the packaged unit: exposure %.1f: %v\n%s", v, err, out)
	}
}
