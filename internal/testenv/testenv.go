package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// InstallHint is the command that installs the servers this package needs.
const InstallHint = "scripts/testenv install"

// requireServers reports whether a missing server binary must fail the test
// instead of skipping it.
func requireServers() bool {
	return os.Getenv("CI") != "" || os.Getenv("SUPPORTD_REQUIRE_SERVERS") == "1"
}

// missingBinary skips or fails t because a server binary is absent.
func missingBinary(t testing.TB, name, detail string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s not found (%s); install it with `%s` from the project root", name, detail, InstallHint)
	if requireServers() {
		t.Fatalf("%s (required: CI or SUPPORTD_REQUIRE_SERVERS=1 is set)", msg)
	}
	t.Skipf("%s (skipping: set CI or SUPPORTD_REQUIRE_SERVERS=1 to fail instead)", msg)
}

// ProjectRoot returns the nearest directory at or above the working
// directory that holds a go.mod file.
func ProjectRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("project root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("project root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// lookBinary returns the first executable among the explicit env override,
// candidates (absolute paths) and PATH lookups of name; pathFirst puts the
// PATH lookup before the candidates.
func lookBinary(envVar, name string, candidates []string, pathFirst bool) (string, bool) {
	if p := os.Getenv(envVar); p != "" {
		if isExecutable(p) {
			return p, true
		}
		return "", false
	}
	fromPath := func() (string, bool) {
		p, err := exec.LookPath(name)
		return p, err == nil
	}
	if pathFirst {
		if p, ok := fromPath(); ok {
			return p, true
		}
	}
	for _, c := range candidates {
		if isExecutable(c) {
			return c, true
		}
	}
	if !pathFirst {
		return fromPath()
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testenv: release free port: %v", err)
	}
	return port
}

// tail returns the last n lines of the file at path ("" if unreadable).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// process is a server child process started in its own process group.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's result, valid after done
}

// startProcess starts bin with args, stdout and stderr appended to logPath.
// The child gets SIGTERM if the test binary dies (Pdeathsig).
func startProcess(bin string, args []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the whole process group (Dovecot's master waits about
// a second for its workers otherwise), waits up to grace, then SIGKILLs the
// group. Leftover members of the group are killed too.
func (p *process) stop(grace time.Duration) error {
	pid := p.cmd.Process.Pid
	if !p.exited() {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				return fmt.Errorf("process %d did not exit after SIGKILL", pid)
			}
		}
	}
	// The group id is the leader's pid; anything still in it is ours.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

// waitFor polls check until it returns nil, the process exits, or timeout.
func waitFor(p *process, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.exited() {
			if p.err != nil {
				return fmt.Errorf("server exited during startup: %w", p.err)
			}
			return errors.New("server exited during startup")
		}
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTailOnFailure registers a cleanup that dumps the tails of files when t
// failed.
func logTailOnFailure(t testing.TB, name string, files ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range files {
			if s := tail(f, 40); s != "" {
				t.Logf("testenv: %s %s (last lines):\n%s", name, filepath.Base(f), s)
			}
		}
	})
}

// startOnFreePorts calls start until the server runs, at most three times:
// start picks its ports with freePort, writes its configuration and starts
// it. The probe can race with another process binding the same port between
// probe and bind; when the logs then say "in use", it tries new ports.
func startOnFreePorts(t testing.TB, name string, start func() error, logs ...string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := start()
		if err == nil {
			return
		}
		if attempt < 3 && slices.ContainsFunc(logs, isAddrInUse) {
			continue
		}
		t.Fatalf("testenv: start %s: %v", name, err)
	}
}

// isAddrInUse reports whether a startup log mentions a port conflict.
func isAddrInUse(logPath string) bool {
	return strings.Contains(tail(logPath, 40), "in use")
}
