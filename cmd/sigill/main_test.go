package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigill/config"
	"sigill/internal/pgtest"
	"sigill/internal/testenv"
)

// sigillBin is the binary built once for every test here: the commands are
// tested as an admin runs them, in a process of their own.
var sigillBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sigill-bin-")
	if err != nil {
		panic(err)
	}
	sigillBin = filepath.Join(dir, "sigill")
	build := exec.Command("go", "build", "-o", sigillBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sigill:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := pgtest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the binary to completion.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(sigillBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// devInstance is a `sigill dev` child process.
type devInstance struct {
	cmd    *exec.Cmd
	data   string
	offset int
	banner string
	stderr *testenv.SyncBuffer // written by exec's copier while the test reads it
}

const devPassword = "dev-password-for-tests"

// startDev starts `sigill dev` on free ports, with more flags if given, and
// waits for its banner.
func startDev(t *testing.T, data string, flags ...string) *devInstance {
	t.Helper()
	offset := freeOffset(t)
	cmd := exec.Command(sigillBin, append([]string{"dev", "-data", data, "-listen-offset", strconv.Itoa(offset)}, flags...)...)
	cmd.Env = append(os.Environ(), "SIGILL_DEV_PASSWORD="+devPassword)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &devInstance{cmd: cmd, data: data, offset: offset, stderr: &testenv.SyncBuffer{}}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan string)
	go func() {
		var banner strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(strings.TrimSpace(sc.Text()), "--header") {
				ready <- banner.String()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case d.banner = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("sigill dev printed no banner in 30 s; stderr:\n%s", d.stderr)
	}
	return d
}

func (d *devInstance) addr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port+d.offset))
}

// freeOffset finds a -listen-offset at which every dev port is free.
func freeOffset(t testing.TB) int {
	ports := []int{config.DevSubmissionPort, config.DevRelayPort, config.DevReaderPort,
		config.DevBankIDPort, config.DevIMAPPort, config.DevAdminPort, config.DevStaffPort}
	for try := 0; try < 50; try++ {
		// Every port stays below 32768, out of the kernel's ephemeral range:
		// a port checked free there can be taken by any test's outgoing
		// connection before sigill binds it.
		offset := 10000 + rand.IntN(130)*100
		free := true
		for _, p := range ports {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+offset)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return offset
		}
	}
	t.Fatal("no free set of dev ports")
	return 0
}

func (d *devInstance) stop(t *testing.T) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sigill dev after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("sigill dev did not stop within 40 s of SIGTERM")
	}
}

// -h is a question, not a mistake: the answer goes to standard output
// with exit 0 (cli_test.go tests each command's).
func TestUsageNamesEveryCommand(t *testing.T) {
	stdout, _, code := run(t, "", "-h")
	if code != 0 {
		t.Errorf("exit %d; want 0", code)
	}
	for name := range commands {
		if !strings.Contains(stdout, name) {
			t.Errorf("usage does not name %q:\n%s", name, stdout)
		}
	}
}
