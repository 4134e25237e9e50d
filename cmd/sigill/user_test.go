package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"sigill/config"
)

func TestUserCommands(t *testing.T) {
	data := t.TempDir()
	// The vault exists once sigill has run; `user` does not create one by accident.
	if _, stderr, code := run(t, "", "user", "-data", data, "list"); code != 1 || !strings.Contains(stderr, "no vault") {
		t.Fatalf("list without a vault: exit %d, %s", code, stderr)
	}
	d := startDev(t, data)
	d.stop(t)

	steps := []struct {
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"a long enough password\n", []string{"add", "Staff@Example.se"}, 0, "done (add)", ""},
		{"another long password\n", []string{"add", "staff@example.se"}, 1, "", "exists"},
		{"short\n", []string{"add", "other@example.se"}, 1, "", "at least 12"},
		{"", []string{"list"}, 0, "staff@example.se", ""},
		{"a new long password\n", []string{"passwd", "staff@example.se"}, 0, "done (passwd)", ""},
		{"a new long password\n", []string{"passwd", "nobody@example.se"}, 1, "", "not found"},
		{"a long admin password\n", []string{"add", "-admin", "chef@example.se"}, 0, "done (add)", ""},
		{"", []string{"disable", "staff@example.se"}, 0, "done (disable)", ""},
		{"", []string{"list"}, 0, "chef@example.se\tadmin\tenabled\t2fa none\t0 app passwords", ""},
		{"", []string{"list"}, 0, "staff@example.se\tstaff\tDISABLED", ""},
		{"", []string{"enable", "staff@example.se"}, 0, "done (enable)", ""},
		{"", []string{"disable", "nobody@example.se"}, 1, "", "not found"},
		{"", []string{"remove", "-admin", "staff@example.se"}, 2, "", "-admin goes with add only"},
		{"", []string{"2fa"}, 2, "", "wants ADDRESS and what to do"},
		{"", []string{"2fa", "staff@example.se", "confirm"}, 2, "", "missing the CODE"},
		{"", []string{"2fa", "staff@example.se", "recovery-codes"}, 1, "", "no second factor"},
		{"", []string{"app-password", "staff@example.se", "revoke", "nosuchid"}, 1, "", "not found"},
		{"", []string{"remove", "staff@example.se"}, 0, "done (remove)", ""},
		{"", []string{"remove", "staff@example.se"}, 1, "", "not found"},
	}
	for _, s := range steps {
		stdout, stderr, code := run(t, s.stdin, append([]string{"user", "-data", data}, s.args...)...)
		if code != s.code || !strings.Contains(stdout, s.stdout) || !strings.Contains(stderr, s.stderr) {
			t.Errorf("sigill user %v: exit %d, stdout %q, stderr %q; want exit %d, %q, %q",
				s.args, code, stdout, stderr, s.code, s.stdout, s.stderr)
		}
	}
	if stdout, _, _ := run(t, "", "user", "-data", data, "list"); strings.Contains(stdout, "staff@example.se") {
		t.Errorf("a removed account is still listed: %s", stdout)
	}
}

// While sigill runs, accounts change through its admin listener and a new
// account can log in at once.
func TestUserCommandsWhileRunning(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	const staff, password = "bo@staff.test", "a long enough password"
	if stdout, stderr, code := run(t, password+"\n", "user", "-data", data, "add", staff); code != 0 {
		t.Fatalf("user add while running: exit %d, %s %s", code, stdout, stderr)
	}
	if _, stderr, code := run(t, password+"\n", "user", "-data", data, "add", staff); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("a second add: exit %d, %s", code, stderr)
	}
	if stdout, _, _ := run(t, "", "user", "-data", data, "list"); !strings.Contains(stdout, staff) || !strings.Contains(stdout, config.DevAccount) {
		t.Errorf("list while running: %s", stdout)
	}
	if _, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewPlainClient("", staff, password), staff, devRcpt, devMessage("Provsvar")); err != nil {
		t.Errorf("the new account cannot send: %v", err)
	}
	if _, stderr, code := run(t, "", "user", "-data", data, "remove", staff); code != 0 {
		t.Errorf("remove while running: %s", stderr)
	}
	if _, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewPlainClient("", staff, password), staff, devRcpt, devMessage("Provsvar")); err == nil {
		t.Error("a removed account can still send")
	}
}

// The admin listener's private routes want the token that only the vault's
// owner can read; metrics and health stay open.
func TestAdminRoutesWantTheToken(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	base := "http://" + d.addr(config.DevAdminPort)
	for path, want := range map[string]int{
		"/metrics": http.StatusOK, "/healthz": http.StatusOK,
		"/vault/backup": http.StatusUnauthorized, "/vault/stats": http.StatusUnauthorized,
		"/accounts": http.StatusUnauthorized, "/debug/pprof/": http.StatusUnauthorized,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without the token: %s; want %d", path, resp.Status, want)
		}
	}
	info, err := os.Stat(filepath.Join(data, "admin.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("admin.json: %v, mode %v; want 0600", err, info.Mode())
	}
}
