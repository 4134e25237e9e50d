package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/config/configtest"
)

// A wrong type, an unknown key and a bad value in one file are named
// together, each at its key and in words rather than the decoder's.
func TestEveryFaultAtOnce(t *testing.T) {
	good, _ := os.ReadFile(configtest.Example(t, time.Now().Add(400*24*time.Hour)))
	text := string(good)
	for from, to := range map[string]string{
		`max_recipients = 50`:           `max_recipients = "50"`,
		`workers = 8`:                   "workers = 8\nwrokers = 9",
		`default_lang = "sv"`:           `default_lang = "fi"`,
		`mail_to_sender = true`:         `mail_to_sender = "yes"`,
		`listen = ["0.0.0.0:443"]`:      `listen = "0.0.0.0:443"`,
		`trusted_proxies = []`:          `trusted_proxies = ["10.0.0.1", 7]`,
		`session_ttl = "15m"`:           `session_ttl = 15`,
		`max_message_bytes = 26214400 `: `max_message_bytes = 2.5 `,
	} {
		if !strings.Contains(text, from) {
			t.Fatalf("the example has no %q", from)
		}
		text = strings.Replace(text, from, to, 1)
	}
	_, err := Parse([]byte(text))
	faults, ok := err.(Faults)
	if !ok {
		t.Fatalf("got %v; want Faults", err)
	}
	want := []string{
		`smtp.max_recipients: must be a whole number, not the string "50"`,
		`notifier.wrokers: unknown key`,
		`organisation.default_lang: "fi" is not a language`,
		`receipts.mail_to_sender: must be true or false, not the string "yes"`,
		`reader.listen: must be a list in brackets, such as ["a", "b"], not the string "0.0.0.0:443"`,
		`reader.trusted_proxies[1]: must be text in quotes, not the number 7`,
		`reader.session_ttl: must be a duration in quotes, such as "2m" or "720h", not the number 15`,
		`smtp.max_message_bytes: must be a whole number, not the number 2.5`,
	}
	all := err.Error()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no %q among the faults:\n%s", w, all)
		}
	}
	if len(faults) != len(want) {
		t.Errorf("%d faults, want %d:\n%s", len(faults), len(want), all)
	}
	if strings.Contains(all, "toml:") {
		t.Errorf("go-toml's own wording reached the admin:\n%s", all)
	}
}

func TestSyntaxErrorNamesTheLine(t *testing.T) {
	_, err := Parse([]byte("[smtp]\nhostname = \"a.example.se\"\nmax_recipients = = 3\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3, column") || !strings.Contains(err.Error(), "not valid TOML") {
		t.Errorf("got %v; want a fault at line 3", err)
	}
}

// Only the listeners a file names are opened: a file without
// implicit_tls_listen or [smtp.relay] leaves ports 465 and 25 closed.
func TestUnnamedListenersStayClosed(t *testing.T) {
	cfg, faults, _ := parse([]byte("[smtp]\nhostname = \"a.example.se\"\n"))
	if len(cfg.SMTP.Submission.ImplicitTLSListen) != 0 || len(cfg.SMTP.Relay.Listen) != 0 || len(cfg.IMAP.StartTLSListen) != 0 {
		t.Errorf("listeners the file did not name: implicit TLS %v, relay %v, IMAP STARTTLS %v",
			cfg.SMTP.Submission.ImplicitTLSListen, cfg.SMTP.Relay.Listen, cfg.IMAP.StartTLSListen)
	}
	if !slices.Equal(cfg.SMTP.Submission.Listen, []string{"0.0.0.0:587"}) || !slices.Equal(cfg.IMAP.Listen, []string{"0.0.0.0:993"}) {
		t.Errorf("the listeners on by default: submission %v, imap %v", cfg.SMTP.Submission.Listen, cfg.IMAP.Listen)
	}
	for _, f := range faults {
		if strings.HasPrefix(f.Key, "smtp.relay") {
			t.Errorf("a relay fault without a relay: %v", f)
		}
	}
	// Naming the relay asks for whom it trusts: nothing is trusted by default.
	_, err := Parse([]byte("[smtp.relay]\nlisten = [\"0.0.0.0:25\"]\n"))
	if err == nil || !strings.Contains(err.Error(), "smtp.relay.trusted_networks: is empty") || !strings.Contains(err.Error(), "smtp.relay.sender_domains: is empty") {
		t.Errorf("a relay without its trust: %v", err)
	}
}

// What notifier.NewElks and NewWebhook refuse at start is a fault of the
// file (check-config said OK to an empty 46elks username, then serve failed).
func TestSMSCredentialsAreFaults(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	good, _ := os.ReadFile(path)
	dir := filepath.Dir(path)
	configtest.Write(t, filepath.Join(dir, "secrets/short"), []byte("short\n"))
	for _, c := range []struct{ name, from, to, want string }{
		{"46elks without username", `username = "elks-user"`, `username = ""`, "notifier.sms.username: is empty"},
		{"46elks without password", `password_file = "` + dir + `/secrets/sms-password"`, `password_file = ""`, "notifier.sms.password_file: is empty"},
		{"short webhook secret", `provider = "46elks"`, `provider = "webhook"`, "notifier.sms.password_file: " + dir + "/secrets/sms-password holds 11 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(string(good), c.from, c.to, 1)
			if text == string(good) {
				t.Fatalf("test fault: %q not in the file", c.from)
			}
			if _, err := Parse([]byte(text)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want %q", err, c.want)
			}
		})
	}
}

// LoadForServe judges the contents of the files the keys name, as serve's
// start does: a CA file without a certificate, an escrow key that is not one.
func TestLoadForServeReadsTheFiles(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	dir := filepath.Dir(path)
	good, _ := os.ReadFile(path)
	configtest.Write(t, filepath.Join(dir, "not-pem"), []byte("hello\n"))
	text := strings.Replace(string(good), `ca_file = ""`, `ca_file = "`+dir+`/not-pem"`, 1)
	text = strings.Replace(text, `escrow_key = ""`, `escrow_key = "`+dir+`/not-pem"`, 1)
	configtest.Write(t, path, []byte(text))
	if _, err := Load(path); err != nil {
		t.Fatalf("Load judges keys only, and refused: %v", err)
	}
	_, _, err := LoadForServe(path, time.Now())
	if err == nil || !strings.Contains(err.Error(), "bankid.ca_file: holds no PEM certificate") || !strings.Contains(err.Error(), "vault.escrow_key: cannot be used") {
		t.Errorf("got %v; want faults at bankid.ca_file and vault.escrow_key", err)
	}
	configtest.Write(t, path, good)
	if _, warnings, err := LoadForServe(path, time.Now()); err != nil || len(warnings) != 0 {
		t.Errorf("the example: warnings %q, err %v", warnings, err)
	}
}

// The configuration file is an admin's input: whatever it holds, Parse
// answers with a configuration or faults, never a panic.
func FuzzParse(f *testing.F) {
	example, _ := os.ReadFile("../sigill.example.toml")
	f.Add(example)
	f.Add([]byte("[smtp]\nmax_recipients = \"50\"\n[[x]]\na = 1\n"))
	f.Add([]byte("a = 1979-05-27T07:32:00Z\n[reader]\nlisten = [[1], {a = 2}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("cfg %v with err %v", cfg, err)
		}
	})
}
