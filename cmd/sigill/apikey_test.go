package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"sigill/config"
)

var apiKeyLine = regexp.MustCompile(`^sgl_[A-Za-z0-9_-]{43}$`)

// lastLine is what a script takes from `sigill apikey create`.
func lastLine(stdout string) string {
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

// createKey runs `sigill apikey ARGS` (a create) and returns the key it printed.
func createKey(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := run(t, "", append([]string{"apikey"}, args...)...)
	if code != 0 {
		t.Fatalf("apikey create %v: exit %d, %s", args, code, stderr)
	}
	key := lastLine(stdout)
	if !apiKeyLine.MatchString(key) {
		t.Fatalf("the last line of apikey create is %q, not a key alone", key)
	}
	return key
}

// The keys are managed while sigill dev runs (through the admin listener)
// and while it is stopped (on the vault file), with flags before or after
// the verb; the staff listener is where the banner says.
func TestAPIKeyCommands(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	staffURL := "http://" + d.addr(config.DevStaffPort) + "/api/v1/"
	if !strings.Contains(d.banner, staffURL) {
		t.Errorf("the banner does not name the REST API at %s:\n%s", staffURL, d.banner)
	}
	resp, err := http.Get(staffURL + "nothing-here")
	if err != nil {
		t.Fatalf("the staff listener: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("the staff listener: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}

	first := createKey(t, "create", "-data", data, config.DevAccount)
	second := createKey(t, "-name", "journal", "-scopes", "messages:send,audit:read", "create", config.DevAccount, "-data", data)
	if first == second {
		t.Error("two keys alike")
	}
	stdout, _, code := run(t, "", "apikey", "list", "-data", data)
	if code != 0 || strings.Count(stdout, config.DevAccount) != 2 || !strings.Contains(stdout, "journal") || !strings.Contains(stdout, "messages:send,audit:read") {
		t.Errorf("list while running: exit %d\n%s", code, stdout)
	}
	if strings.Contains(stdout, first[4:]) || strings.Contains(stdout, second[4:]) {
		t.Error("list shows a key")
	}
	id := strings.Fields(stdout)[0]

	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"create", "nobody@staff.test"}, 1, "no such staff account"},
		{[]string{"create", config.DevAccount, "-scopes", "messages:sned"}, 2, "messages:send"},
		{[]string{"revoke", "nosuchkey"}, 1, "no such key"},
		{[]string{"create"}, 2, "missing the ACCOUNT"},
		{[]string{"rotate", "x"}, 2, "not something apikey does"},
	} {
		_, stderr, code := run(t, "", append([]string{"apikey", "-data", data}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.says) {
			t.Errorf("apikey %v: exit %d, %q; want %d saying %q", c.args, code, stderr, c.code, c.says)
		}
	}
	if _, stderr, code := run(t, "", "apikey", "revoke", id, "-data", data); code != 0 {
		t.Errorf("revoke while running: %s", stderr)
	}

	d.stop(t)
	createKey(t, "create", config.DevAccount, "-data", data)
	stdout, _, _ = run(t, "", "apikey", "list", "-data", data)
	if strings.Count(stdout, config.DevAccount) != 3 || strings.Count(stdout, "revoked") != 1 {
		t.Errorf("list on the file after a revoke and a create:\n%s", stdout)
	}
}
