package torture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"supportd/internal/testenv"
)

// supportdBin is the real binary under test, built once by TestMain.
var supportdBin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "supportd-torture-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := testenv.ProjectRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "torture:", err)
		return 1
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	supportdBin = filepath.Join(dir, "supportd")
	args := []string{"build", "-o", supportdBin}
	if raceEnabled {
		// The daemon under torture runs with the race detector too when the
		// tests do (make test): a race it hits is reported in its log.
		args = append(args, "-race")
	}
	args = append(args, "supportd/cmd/supportd")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "torture: go build supportd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
