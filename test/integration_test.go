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
	if top := 9090 + 1500 + 80*(len(scripts)-1); top > 10990 {
		t.Fatalf("%d scripts move their ports up to %d, past 10990, into cmd/sigill's band: change the OFFSET scheme below", len(scripts), top)
	}
	for i, script := range scripts {
		t.Run(filepath.Dir(script), func(t *testing.T) {
			cmd := exec.Command("bash", script)
			// The scripts' ports (base ports 1143-9090, moved by OFFSET)
			// stay in 2600-10990: below cmd/sigill's dev offsets (ports from
			// 11143) and freePort (20000-32767), which run in parallel with
			// this package, and off the default dev ports a developer's own
			// instance holds. Overlapping bands once made serve's admin port
			// taken between freePort's check and serve's bind. OFFSET steps
			// by 80 (1500, 1580, ... 1900): room for six scripts; a script
			// with a second node moves that node's ports by OFFSET+40
			// (t-05). A seventh script needs another scheme, e.g. its own
			// base ports.
			cmd.Env = append(os.Environ(), "SIGILL="+bin, "OFFSET="+strconv.Itoa(1500+80*i))
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
