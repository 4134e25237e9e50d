package main

import (
	"strings"
	"testing"
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
