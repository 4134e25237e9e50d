// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql package's initdb and pg_ctl, a cluster in a temporary directory,
// listening on a free port on 127.0.0.1 only, stopped and removed when the
// test ends. There is no Docker on the machines sigill is tested on, and no
// mock of PostgreSQL would tell us what the real one does with our SQL.
//
// initdb refuses to run as root, and CI runs as root: the cluster then
// belongs to the postgres user that Debian's package creates, and every
// PostgreSQL command runs through runuser. The server keeps fsync and
// synchronous_commit at their defaults (on), so a test of durable accept
// is a test of the real thing.
//
// It is imported by tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sigill/internal/testenv"
)

// Server is one running PostgreSQL cluster.
type Server struct {
	// URL reaches the cluster's "postgres" database as its superuser.
	URL string

	dir  string // the cluster's data directory, log and socket live below
	port int
	bin  string // the folder with initdb, pg_ctl
	as   *user.User

	schemasOnce sync.Once
	schemasURL  string // the database NewSchema makes schemas in
}

// Start runs a new cluster for the test and stops it when the test ends.
// Without PostgreSQL's server binaries the test is skipped naming the Debian
// package (failed under CI=true, where .ci/run installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	s, missing, err := start()
	if missing != "" {
		testenv.Missing(t, missing, "postgresql")
	}
	if s != nil {
		t.Cleanup(func() {
			if err := s.stop(); err != nil {
				t.Error(err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A test binary whose TestMain calls Main shares one cluster among its
// tests (Shared), started on first use: initdb and a server start are most
// of a small test's time, and each test still gets a database of its own
// from NewDatabase.
var shared struct {
	once    sync.Once
	s       *Server
	missing string
	err     error
}

// Main runs the tests of a binary that uses Shared, then stops the shared
// cluster and removes its folder. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// StopShared stops the shared cluster, if one was started: for a TestMain
// that has more to do than Main.
func StopShared() error {
	if shared.s == nil {
		return nil
	}
	s := shared.s
	shared.s = nil
	return s.stop()
}

// Shared is the test binary's one cluster (see Main), skipped or failed
// like Start.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() { shared.s, shared.missing, shared.err = start() })
	if shared.missing != "" {
		testenv.Missing(t, shared.missing, "postgresql")
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

// Available skips the test (fails it under CI=true) when PostgreSQL's
// server is not installed, without starting one.
func Available(t testing.TB) {
	t.Helper()
	if serverBinaries() == "" {
		testenv.Missing(t, "PostgreSQL's initdb and pg_ctl", "postgresql")
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			testenv.Missing(t, "the postgres user (initdb refuses root)", "postgresql")
		}
	}
}

// start runs a new cluster. It returns what is missing when PostgreSQL is
// not installed, and a server to stop even with an error.
func start() (s *Server, missing string, err error) {
	bin := serverBinaries()
	if bin == "" {
		return nil, "PostgreSQL's initdb and pg_ctl", nil
	}
	s = &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "the postgres user (initdb refuses root)", nil
		}
		s.as = u
	}

	// Not a test's TempDir: its parent is private to root, and the cluster
	// may belong to postgres.
	dir, err := os.MkdirTemp("", "sigill-pg-")
	if err != nil {
		return nil, "", err
	}
	s.dir = dir
	if s.as != nil {
		uid, _ := strconv.Atoi(s.as.Uid)
		gid, _ := strconv.Atoi(s.as.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, "", err
		}
	}

	data := filepath.Join(dir, "data")
	if out, err := s.command("initdb", "-D", data, "-U", "sigill", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}

	// A free port can be taken between our check and the server's bind;
	// pg_ctl then fails at once, and another port is tried.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if s.port, err = freePort(); err != nil {
			lastErr = err
			break
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c max_connections=200", s.port, dir)
		out, err := s.command("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts).CombinedOutput()
		if err == nil {
			lastErr = nil
			break
		}
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		lastErr = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		if !strings.Contains(string(log), "Address already in use") {
			break
		}
	}
	if lastErr != nil {
		os.RemoveAll(dir)
		return nil, "", lastErr
	}
	s.URL = s.urlFor("postgres")
	s.watch()
	return s, "", nil
}

// watch stops the cluster and removes its folder should the test binary
// die without doing so (go test's timeout, a kill): pg_ctl's server does
// not end with the process that started it.
func (s *Server) watch() {
	script := `while [ -d "/proc/$1" ] && [ -d "$2" ]; do sleep 1; done
[ -d "$2" ] || exit 0
"$3" stop -m immediate -D "$2/data" >/dev/null 2>&1
rm -rf "$2"`
	pgCtl := filepath.Join(s.bin, "pg_ctl")
	args := []string{"-c", script, "pgtest-watch", strconv.Itoa(os.Getpid()), s.dir, pgCtl}
	var cmd *exec.Cmd
	if s.as != nil {
		cmd = exec.Command("runuser", append([]string{"-u", s.as.Username, "--", "sh"}, args...)...)
		cmd.Dir = s.dir
	} else {
		cmd = exec.Command("sh", args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not in the test's process group, which a timeout may kill
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

// stop stops the cluster and removes its folder.
func (s *Server) stop() error {
	defer os.RemoveAll(s.dir)
	if out, err := s.command("pg_ctl", "stop", "-w", "-m", "fast", "-D", filepath.Join(s.dir, "data")).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// NewDatabase creates an empty database of its own for the test (dropped
// with the cluster) and returns its URL, so tests can share one cluster.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("connect to %s: %v", s.URL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return s.urlFor(name)
}

// NewSchema makes an empty schema of its own for the test, in a database
// the cluster's tests share, and returns a URL whose search_path is that
// schema: to a program that names its tables unqualified it is a store of
// its own, made in milliseconds where a database takes most of a second.
func (s *Server) NewSchema(t testing.TB) string {
	t.Helper()
	s.schemasOnce.Do(func() { s.schemasURL = s.NewDatabase(t) })
	if s.schemasURL == "" {
		t.Fatal("the database for schemas could not be made")
	}
	name := "t_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.schemasURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", s.schemasURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	return s.schemasURL + "&search_path=" + name
}

// Bin is the path of one of the cluster's client programs (pg_dump,
// pg_restore, psql), of the same version as the server.
func (s *Server) Bin(name string) string { return filepath.Join(s.bin, name) }

// Log is the server's log so far, for a failing test to show.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

func (s *Server) urlFor(database string) string {
	return fmt.Sprintf("postgres://sigill@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// command runs one of the server's programs, as postgres when we are root.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.as == nil {
		return exec.Command(path, args...)
	}
	cmd := exec.Command("runuser", append([]string{"-u", s.as.Username, "--", path}, args...)...)
	cmd.Dir = s.dir // runuser keeps the working directory, which postgres must be able to enter
	return cmd
}

// serverBinaries finds the folder holding initdb and pg_ctl: Debian keeps
// them off PATH in /usr/lib/postgresql/<version>/bin; take the newest.
func serverBinaries() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real)
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
