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
}

// Start runs a new cluster for the test and stops it when the test ends.
// Without PostgreSQL's server binaries the test is skipped naming the Debian
// package (failed under CI=true, where .ci/run installs it).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := serverBinaries()
	if bin == "" {
		testenv.Missing(t, "PostgreSQL's initdb and pg_ctl", "postgresql")
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "the postgres user (initdb refuses root)", "postgresql")
		}
		s.as = u
	}

	// Not t.TempDir: its parent is private to root, and the cluster may
	// belong to postgres.
	dir, err := os.MkdirTemp("", "sigill-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if s.as != nil {
		uid, _ := strconv.Atoi(s.as.Uid)
		gid, _ := strconv.Atoi(s.as.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}

	data := filepath.Join(dir, "data")
	if out, err := s.command("initdb", "-D", data, "-U", "sigill", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	// A free port can be taken between our check and the server's bind;
	// pg_ctl then fails at once, and another port is tried.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port = freePort(t)
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
		t.Fatal(lastErr)
	}
	t.Cleanup(func() {
		if out, err := s.command("pg_ctl", "stop", "-w", "-m", "fast", "-D", data).CombinedOutput(); err != nil {
			t.Errorf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	s.URL = s.urlFor("postgres")
	return s
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

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
