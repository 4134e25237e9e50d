// Package test runs the integration scripts test/t-NN-*/run.sh in the manner
// of chasquid's: each starts the built sigill binary and drives it with real
// clients (swaks, curl, Python), checking what a user would see.
package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"sigill/internal/pgtest"
	"sigill/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestScripts(t *testing.T) {
	testenv.Tool(t, "swaks", "swaks")
	testenv.Tool(t, "curl", "curl")
	testenv.Tool(t, "python3", "python3")
	bin := filepath.Join(t.TempDir(), "sigill")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/sigill").CombinedOutput(); err != nil {
		t.Fatalf("building sigill: %v\n%s", err, out)
	}
	scripts, _ := filepath.Glob("t-*/run.sh")
	if len(scripts) == 0 {
		t.Fatal("no test/t-*/run.sh found")
	}
	for i, script := range scripts {
		t.Run(filepath.Dir(script), func(t *testing.T) {
			cmd := exec.Command("bash", script)
			// The scripts' ports (base ports up to 9090, moved by OFFSET) stay
			// in 2600-10990: below cmd/sigill's dev offsets (ports from
			// 11143) and freePort (20000-32767), which run in parallel with
			// this package, and off the default dev ports a developer's own
			// instance holds. Overlapping bands once made serve's admin port
			// taken between freePort's check and serve's bind.
			cmd.Env = append(os.Environ(), "SIGILL="+bin, "OFFSET="+strconv.Itoa(1500+100*i))
			// A script that names PostgreSQL in its head gets an empty
			// database of its own in the test binary's cluster.
			if head, _ := os.ReadFile(script); bytes.Contains(head[:min(len(head), 200)], []byte("# needs: postgresql")) {
				cmd.Env = append(cmd.Env, "SIGILL_STORE="+pgtest.Shared(t).NewDatabase(t))
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
			t.Logf("%s", out)
		})
	}
}
