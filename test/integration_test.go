// Package test runs the integration scripts test/t-NN-*/run.sh in the manner
// of chasquid's: each starts the built sigill binary and drives it with real
// clients (swaks, curl, Python), checking what a user would see.
package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"sigill/internal/testenv"
)

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
			cmd.Env = append(os.Environ(), "SIGILL="+bin, "OFFSET="+strconv.Itoa(23000+100*i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
			t.Logf("%s", out)
		})
	}
}
