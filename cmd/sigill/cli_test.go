package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"os/exec"

	"sigill/config/configtest"
	"sigill/internal/testenv"
	"sigill/vault"
)

// Every command answers -h with its usage on standard output and exit 0,
// and a flag it does not know with a usage error: exit 2, the flag named on
// standard error.
func TestEveryCommandsHelpAndUsageError(t *testing.T) {
	for name := range commands {
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", name, "-h")
			if code != 0 || !strings.HasPrefix(stdout, "Usage: sigill "+name) || stderr != "" {
				t.Errorf("sigill %s -h: exit %d\nstdout %s\nstderr %s", name, code, stdout, stderr)
			}
			stdout, stderr, code = run(t, "", name, "-no-such-flag")
			if code != 2 || !strings.Contains(stderr, "sigill "+name+": flag provided but not defined: -no-such-flag") ||
				!strings.Contains(stderr, "Usage: sigill "+name) || stdout != "" {
				t.Errorf("sigill %s -no-such-flag: exit %d\nstdout %s\nstderr %s", name, code, stdout, stderr)
			}
		})
	}
	if stdout, _, code := run(t, "", "help", "vault"); code != 0 || !strings.HasPrefix(stdout, "Usage: sigill vault") {
		t.Errorf("sigill help vault: exit %d\n%s", code, stdout)
	}
}

// A usage error says what was wrong, not only how the command is used.
func TestUsageErrorsSayWhatWasWrong(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "sigill: missing the COMMAND"},
		{[]string{"frobnicate"}, `sigill: unknown command "frobnicate"`},
		{[]string{"user"}, "sigill user: missing what to do: add, passwd, list, remove, disable, enable, 2fa or app-password"},
		{[]string{"user", "rename", "a@example.se"}, `sigill user: "rename" is not something user does`},
		{[]string{"user", "add"}, "sigill user: missing the ADDRESS of the account"},
		{[]string{"user", "list", "extra"}, `sigill user: unexpected argument "extra"`},
		{[]string{"vault", "backup"}, "sigill vault: missing the FILE to write the backup to"},
		{[]string{"vault", "stats", "-data"}, "sigill vault: flag needs an argument: -data"},
		{[]string{"addr"}, "sigill addr: missing the ADDRESS to show"},
		{[]string{"check-config", "sigill.toml"}, `sigill check-config: unexpected argument "sigill.toml"`},
		{[]string{"serve", "-config"}, "sigill serve: flag needs an argument: -config"},
		{[]string{"dev", "-listen-offset", "x"}, `sigill dev: invalid value "x" for flag -listen-offset`},
	} {
		stdout, stderr, code := run(t, "", c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("sigill %s: exit %d, stderr:\n%s\nwant exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

// Flags go before the command, after it, or between its arguments.
func TestFlagsBeforeOrAfterTheVerb(t *testing.T) {
	data := t.TempDir()
	v, err := vault.Open(vault.Options{Path: filepath.Join(data, "sigill.db"), Retention: time.Hour, AuditRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v.Close()
	const password = "a long staff password\n"
	for i, args := range [][]string{
		{"user", "add", "-data", data, "a@example.se"},
		{"user", "add", "b@example.se", "-data", data},
		{"user", "-data", data, "add", "c@example.se"},
		{"-data", data, "user", "add", "d@example.se"},
		{"user", "add", "-data=" + data, "--", "e@example.se"},
	} {
		if _, stderr, code := run(t, password, args...); code != 0 {
			t.Errorf("form %d, sigill %s: exit %d\n%s", i, strings.Join(args, " "), code, stderr)
		}
	}
	stdout, stderr, code := run(t, "", "user", "list", "-data", data)
	if code != 0 {
		t.Fatalf("user list: %s", stderr)
	}
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		address, _, _ := strings.Cut(line, "\t")
		listed = append(listed, address)
	}
	slices.Sort(listed)
	if want := []string{"a@example.se", "b@example.se", "c@example.se", "d@example.se", "e@example.se"}; !slices.Equal(listed, want) {
		t.Errorf("accounts %v; want %v", listed, want)
	}

	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	want, _, _ := run(t, "", "addr", "-config", path, "0701234567&login=199908072391&@secure.example.se")
	for _, args := range [][]string{
		{"addr", "0701234567&login=199908072391&@secure.example.se", "-config", path},
		{"-config", path, "addr", "0701234567&login=199908072391&@secure.example.se"},
	} {
		if got, stderr, _ := run(t, "", args...); got != want || !strings.Contains(got, `"+46701234567"`) {
			t.Errorf("sigill %s: %q %s; want %q", strings.Join(args, " "), got, stderr, want)
		}
	}
}

// Whatever serve refuses at start, check-config names as a fault, at the
// same key: they share config.LoadForServe.
func TestCheckConfigFaultsWhatServeRefuses(t *testing.T) {
	for _, c := range []struct{ name, from, to, key string }{
		{"empty 46elks username", `username = "elks-user"`, `username = ""`, "notifier.sms.username"},
		{"a CA file without a certificate", `ca_file = ""`, `ca_file = "DIR/secrets/sms-password"`, "bankid.ca_file"},
		{"an escrow key that is none", `escrow_key = ""`, `escrow_key = "DIR/secrets/sms-password"`, "vault.escrow_key"},
		{"a wrong type", `max_recipients = 50`, `max_recipients = "50"`, "smtp.max_recipients"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
			text, _ := os.ReadFile(path)
			to := strings.ReplaceAll(c.to, "DIR", filepath.Dir(path))
			bad := strings.Replace(string(text), c.from, to, 1)
			if bad == string(text) {
				t.Fatalf("the example has no %q", c.from)
			}
			configtest.Write(t, path, []byte(bad))
			_, stderr, code := run(t, "", "check-config", "-config", path)
			if code != 1 || !strings.Contains(stderr, "  "+c.key+": ") {
				t.Errorf("check-config: exit %d; want 1 naming %s:\n%s", code, c.key, stderr)
			}
			_, stderr, code = run(t, "", "serve", "-config", path)
			if code != 1 || !strings.Contains(stderr, c.key+": ") {
				t.Errorf("serve: exit %d; want 1 naming %s:\n%s", code, c.key, stderr)
			}
		})
	}
}

// servedConfig is the example with every listener it names moved to a free
// loopback port, less the lines drop names; ports maps the example's
// address to the test's.
func servedConfig(t *testing.T, drop ...string) (path string, ports map[string]string) {
	t.Helper()
	path = configtest.Example(t, time.Now().Add(400*24*time.Hour))
	text, _ := os.ReadFile(path)
	conf := string(text)
	for _, line := range drop {
		if !strings.Contains(conf, line+"\n") {
			t.Fatalf("the example has no line %q", line)
		}
		conf = strings.Replace(conf, line+"\n", "", 1)
	}
	ports = map[string]string{}
	for _, listen := range []string{"0.0.0.0:587", "0.0.0.0:465", "0.0.0.0:25", "0.0.0.0:443", "0.0.0.0:993", "127.0.0.1:9090"} {
		if strings.Contains(conf, `"`+listen+`"`) {
			ports[listen] = freePort(t)
			conf = strings.Replace(conf, `"`+listen+`"`, `"`+ports[listen]+`"`, 1)
		}
	}
	configtest.Write(t, path, []byte(conf))
	return path, ports
}

// startServe starts `sigill serve` and waits until its admin listener
// answers; the process is stopped when the test ends.
func startServe(t *testing.T, path, adminAddr string, env ...string) *testenv.SyncBuffer {
	t.Helper()
	var log testenv.SyncBuffer
	serve := exec.Command(sigillBin, "serve", "-config", path)
	serve.Env = append(os.Environ(), env...)
	serve.Stderr = &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		timer := time.AfterFunc(40*time.Second, func() { serve.Process.Kill() })
		defer timer.Stop()
		serve.Wait()
	})
	waitPort(t, adminAddr, &log)
	return &log
}

var listeningAt = regexp.MustCompile(`"msg":"listening","service":"[^"]*","addr":"([^"]+)"`)

// A listener the file does not name stays closed: without
// implicit_tls_listen and [smtp.relay], serve opens no port 465 or 25.
func TestServeOpensOnlyTheNamedListeners(t *testing.T) {
	path, ports := servedConfig(t,
		`implicit_tls_listen = ["0.0.0.0:465"]   # optional`,
		`listen = ["0.0.0.0:25"]`,
		`trusted_networks = ["10.0.0.0/8"]       # only these peers may use it; no AUTH`,
		`sender_domains = ["example.se"]         # MAIL FROM must be in one of these`)
	if _, stderr, code := run(t, "", "check-config", "-config", path); code != 0 {
		t.Fatalf("check-config: %s", stderr)
	}
	log := startServe(t, path, ports["127.0.0.1:9090"])
	// Every port is bound before the first is served; admin's is logged last.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(log.String(), `"service":"admin"`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log the admin listener:\n%s", log.String())
		}
	}
	var opened []string
	for _, m := range listeningAt.FindAllStringSubmatch(log.String(), -1) {
		opened = append(opened, m[1])
	}
	slices.Sort(opened)
	want := []string{ports["0.0.0.0:587"], ports["0.0.0.0:443"], ports["0.0.0.0:993"], ports["127.0.0.1:9090"]}
	slices.Sort(want)
	if !slices.Equal(opened, want) {
		t.Errorf("serve opened %v; want only the named %v\n%s", opened, want, log.String())
	}
}
