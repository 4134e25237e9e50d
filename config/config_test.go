package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigill/config/configtest"
)

func TestExampleIsAccepted(t *testing.T) {
	cfg, err := Load(configtest.Example(t, time.Now().Add(400*24*time.Hour)))
	if err != nil {
		t.Fatalf("sigill.example.toml refused:\n%v", err)
	}
	if cfg.Notifier.SMS.Password != "elks-secret" || cfg.BankID.CertificatePassword != "qwerty123" {
		t.Errorf("secrets not read from their files: sms %q, bankid %q", cfg.Notifier.SMS.Password, cfg.BankID.CertificatePassword)
	}
	if cfg.Vault.Retention.Duration != 720*time.Hour || cfg.Vault.MaxRetention.Duration != 2160*time.Hour || cfg.SMTP.MaxRecipients != 50 {
		t.Errorf("values not read: retention %v, max_retention %v, max_recipients %d", cfg.Vault.Retention, cfg.Vault.MaxRetention, cfg.SMTP.MaxRecipients)
	}
	warnings, err := cfg.CheckCertificates(time.Now())
	if err != nil || len(warnings) != 0 {
		t.Errorf("fresh certificates: warnings %q, err %v", warnings, err)
	}
}

// sigillAdditions are the whole lines sigill's example has and the spec's
// has not: keys sigill added (README's "Running it in production" lists them).
var sigillAdditions = []string{
	`reply_copy = ""                         # a functional mailbox that is mailed every recipient's reply too, e.g. "kansli@example.se"; "" = only the sender`,
	`from_header = "on_behalf"               # From header naming another address than the account (relay: MAIL FROM): "on_behalf" shows it as on behalf of, unverified; "refuse" answers 550`,
	"# Listeners on by default: submission 0.0.0.0:587, reader 0.0.0.0:443, IMAPS\n# 0.0.0.0:993 and admin 127.0.0.1:9090. Off unless the file names them:\n# implicit_tls_listen (465), the whole [smtp.relay] (25) and starttls_listen.",
	`                                        # ^ off unless set: without the key, no port 465`,
	`                                        # off unless listen is set; then trusted_networks and sender_domains must be too`,
	`                                        # and /readyz: 200, or 503 naming the dependency that failed`,
	`whole_personal_number = false           # true: receipts show the opener's whole personal number; false: masked (19990807-****) where the address named it, whole only for login=* and birth-date logins`,
	"\n[login_limit]                           # password tries at SMTP submission and IMAP (one gate for both)",
	`burst = 5                               # tries at once per client address, and per account from addresses that have not logged in to it lately`,
	`window = "1m"                           # then one more try per window`,
	`max_retention = "2160h"                 # 90 days: the longest lifetime a sender may give one message (exp= in the address, "sigill message expire"); at least retention`,
	"\n[staff]                                 # the REST API (/api/v1/) and the staff web, over HTTPS with tls.cert_file; meant for the internal network\nlisten = []                             # off unless set, e.g. [\"10.0.0.5:8443\"]; sigill dev: 127.0.0.1:8090",
	`url = ""                                # the staff web's address as staff open it, e.g. "https://staff.example.se:8443": its host name is the passkeys' site (WebAuthn refuses IP addresses); empty: no passkeys; sigill dev: http://localhost:8090`,
	`require_2fa = true                      # every account needs a second factor: SMTP AUTH and IMAP LOGIN take only app passwords (sigill user app-password), as they do for any account with one`,
	`session_idle = "30m"                    # a staff web session ends this long after its last request`,
	`session_max = "12h"                     # and this long after sign-in, however busy`,
	"[api]                                   # the REST API on the staff listener\nwebhook_allow = []                      # webhook targets allowed besides public addresses: host names, \"*.domain\", IPs, CIDRs (e.g. [\"10.0.0.0/8\"]); without them loopback, private and link-local targets are refused\n",
	`url = ""                                # only with environment = "test": another RP API base URL, e.g. a simulator from "sigill bankid-simulator"; needs ca_file`,
	`key_file = ""                           # seals the key store; default path + ".key" (32 random bytes, created when missing): the same file on every node`,
	`lease = "60s"                           # a node's claim on a notification; a dead node's are sent by another after this`,
	"\n[node]\nid = \"\"                                 # this node's name among those sharing a store; empty: random at each start",
	`gc_percent = 400                        # Go's GOGC for this process (Go's default: 100); 400 spends a little memory for less CPU per message`,
	`memory_limit_mb = 1024                  # soft heap limit (GOMEMLIMIT): the collector works harder near it; 0 = none. GOGC/GOMEMLIMIT in the environment win`,
	"\n[gdpr]                                  # data-subject requests by personal number: sigill gdpr export|erase, the API's gdpr:admin\ntwo_person = false                      # true: an erasure waits for another administrator's \"sigill gdpr approve ID\"",
	"\n[store]                                 # where the vault's records live: one bbolt file at vault.path (one node) unless url is set\nurl = \"\"                                # e.g. \"postgres://sigill@db.example.se/sigill\": PostgreSQL, shared by every node (README: \"Running more than one node\")",
}

// sigillChanges are the spec's lines whose value wave 2 changed (design.md
// lists them), ours → the spec's.
var sigillChanges = map[string]string{
	`audit_retention = "43800h"              # 5 years (HSLF-FS 2016:40 asks at least 5 years of access logs): then the events and the staff's audit records go too; the content goes at its own retention`: `audit_retention = "9600h"               # 400 days: then the events go too`,
}

// The repository's copy of the example is what README points admins at; it
// must not drift from the spec's: without sigill's additions it is the
// spec's, byte for byte.
func TestExampleMatchesSpec(t *testing.T) {
	spec, err := os.ReadFile("../../shared/spec/sigill.example.toml")
	if err != nil {
		t.Skipf("no ../shared beside the project: %v", err)
	}
	ours, _ := os.ReadFile("../sigill.example.toml")
	for _, line := range sigillAdditions {
		without := bytes.Replace(ours, []byte(line+"\n"), nil, 1)
		if len(without) == len(ours) {
			t.Errorf("sigill.example.toml lacks sigill's addition %q", line)
		}
		ours = without
	}
	for line, spec := range sigillChanges {
		changed := bytes.Replace(ours, []byte(line+"\n"), []byte(spec+"\n"), 1)
		if bytes.Equal(changed, ours) {
			t.Errorf("sigill.example.toml lacks sigill's changed line %q", line)
		}
		ours = changed
	}
	if !bytes.Equal(spec, ours) {
		t.Error("sigill.example.toml, less sigill's additions, differs from ../shared/spec/sigill.example.toml; copy the spec's over and add them again")
	}
}

func TestCertificateExpiryWarns(t *testing.T) {
	cfg, err := Load(configtest.Example(t, time.Now().Add(10*24*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := cfg.CheckCertificates(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, key := range []string{"tls.cert_file", "bankid.certificate_file"} {
		if !strings.Contains(joined, key+": certificate") {
			t.Errorf("no expiry warning for %s in %q", key, joined)
		}
	}
	if _, err := cfg.CheckCertificates(time.Now().Add(20 * 24 * time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired certificate gave %v, want a fault", err)
	}
}

func TestWrongP12PasswordIsAFault(t *testing.T) {
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	configtest.Write(t, filepath.Join(filepath.Dir(path), "secrets/bankid-p12-password"), []byte("wrong"))
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.CheckCertificates(time.Now()); err == nil || !strings.Contains(err.Error(), "bankid.certificate_file") {
		t.Errorf("wrong p12 password gave %v, want a fault naming bankid.certificate_file", err)
	}
}

// Each bad file must be refused with a message that names the key.
func TestFaultsNameTheKey(t *testing.T) {
	base := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	good, _ := os.ReadFile(base)
	cases := []struct {
		name, from, to, wantKey, wantText string
	}{
		{"typo'd key", `environment = "production"`, `enviroment = "production"`, "bankid.enviroment", "unknown key"},
		{"unknown section", `[receipts]`, `[reciepts]`, "reciepts", "unknown key"},
		{"bad duration", `retention = "720h"`, `retention = "30 days"`, "vault.retention", `"30 days" is not a duration; write it like 720h`},
		{"wrong type", `max_recipients = 50`, `max_recipients = "fifty"`, "smtp.max_recipients", ""},
		{"bad language", `default_lang = "sv"`, `default_lang = "fi"`, "organisation.default_lang", `write "sv" or "en"`},
		{"bad network", `trusted_networks = ["10.0.0.0/8"]`, `trusted_networks = ["10.0.0.0/33"]`, "smtp.relay.trusted_networks", "CIDR"},
		{"simulator in production", `environment = "production"`, `environment = "simulator"`, "bankid.environment", "sigill dev"},
		{"log provider in production", `provider = "46elks"`, `provider = "log"`, "notifier.sms.provider", "dev only"},
		{"default login", `default_login = ""`, `default_login = "all"`, "addressing.default_login", `"*"`},
		{"plain http link", `link_base = "https://read.example.se"`, `link_base = "http://read.example.se"`, "notifier.link_base", "https"},
		{"bad listen", `listen = ["0.0.0.0:587"]`, `listen = ["587"]`, "smtp.submission.listen", "IP:port"},
		{"missing secret", `sms-password"`, `no-such-file"`, "notifier.sms.password_file", "cannot read"},
		{"audit shorter than content", `audit_retention = "43800h"`, `audit_retention = "24h"`, "vault.audit_retention", "outlive"},
		{"bad max retention", `max_retention = "2160h"`, `max_retention = "90d"`, "vault.max_retention", `"90d" is not a duration; write it like 2160h`},
		{"max retention shorter than retention", `max_retention = "2160h"`, `max_retention = "24h"`, "vault.max_retention", "shorter than vault.retention 720h"},
		{"audit shorter than the longest lifetime", `max_retention = "2160h"`, `max_retention = "43801h"`, "vault.audit_retention", "vault.max_retention"},
		{"max retention not in minutes", `max_retention = "2160h"`, `max_retention = "2160h30s"`, "vault.max_retention", "whole minutes"},
		{"bad region", `region = "SE"`, `region = "XX"`, "addressing.region", "two-letter"},
		{"bad from_header", `from_header = "on_behalf"`, `from_header = "rewrite"`, "smtp.from_header", `"refuse"`},
		{"bad reply copy", `reply_copy = ""`, `reply_copy = "Kansliet <kansli@example.se>"`, "organisation.reply_copy", "bare e-mail address"},
		{"long sender id", `sms_sender = "RegionEx"`, `sms_sender = "RegionExempel"`, "organisation.sms_sender", "2-11"},
		{"no login tries", `burst = 5 `, `burst = 0 `, "login_limit.burst", "between 1 and 1000"},
		{"bad login window", `window = "1m"`, `window = "a minute"`, "login_limit.window", "write it like 1m"},
		{"bad webhook allow", `webhook_allow = []`, `webhook_allow = ["10.0.0.0/8", "http://hooks.example"]`, "api.webhook_allow", "CIDR prefix"},
		{"short lease", `lease = "60s"`, `lease = "10s"`, "vault.lease", "shorter than 60s"},
		{"store url not postgres", `url = ""                                # e.g.`, `url = "mysql://root:hunter2@db/sigill" # e.g.`, "store.url", "postgres://user@host/database"},
		{"bad node id", "[node]\nid = \"\"", "[node]\nid = \"node one\"", "node.id", "letters, digits"},
		{"staff url with an IP", `url = ""                                # the staff web's`, `url = "https://10.0.0.5:8443"            # the staff web's`, "staff.url", "host name"},
		{"plain http staff url", `url = ""                                # the staff web's`, `url = "http://staff.example.se"          # the staff web's`, "staff.url", "https"},
		{"staff url with a path", `url = ""                                # the staff web's`, `url = "https://staff.example.se/web"     # the staff web's`, "staff.url", "path"},
		{"bankid url in production", `url = ""  `, `url = "https://127.0.0.1:8081/rp/v6.0/"  `, "bankid.url", `environment = "test"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(string(good), c.from, c.to, 1)
			if text == string(good) {
				t.Fatalf("test fault: %q not in the example", c.from)
			}
			_, err := Parse([]byte(text))
			if err == nil {
				t.Fatalf("accepted; want a fault at %s", c.wantKey)
			}
			if !strings.Contains(err.Error(), c.wantKey+": ") || !strings.Contains(err.Error(), c.wantText) {
				t.Errorf("fault %q; want it to name %s and say %q", err, c.wantKey, c.wantText)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("fault %q shows a password", err)
			}
		})
	}
}

func TestFaultsAreAllReported(t *testing.T) {
	_, err := Parse([]byte("[vault]\nretention = \"x\"\n[organisation]\ndefault_lang = \"de\"\n[bankid]\nenvironment = \"simulator\"\n"))
	faults, ok := err.(Faults)
	if !ok || len(faults) < 3 {
		t.Fatalf("got %v; want at least three faults at once", err)
	}
}

func TestDevIsValidAndOffset(t *testing.T) {
	cfg := Dev(t.TempDir(), 100)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("dev configuration refused: %v", err)
	}
	if got := cfg.SMTP.Relay.Listen[0]; got != "127.0.0.1:2625" {
		t.Errorf("relay with offset 100 at %s, want 127.0.0.1:2625", got)
	}
	if cfg.SMTP.Domains[0] != "secure.test" {
		t.Errorf("dev domain %v", cfg.SMTP.Domains)
	}
}

// bankid.url points a test deployment at another RP API (a simulator): only
// with environment "test", only https, and only with ca_file.
func TestBankIDURL(t *testing.T) {
	base := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	dir := filepath.Dir(base)
	good, _ := os.ReadFile(base)
	caFile := filepath.Join(dir, "tls/fullchain.pem") // any PEM file will do for Validate
	withBankID := func(env, url, ca string) string {
		text := strings.Replace(string(good), `environment = "production"`, `environment = "`+env+`"`, 1)
		text = strings.Replace(text, `ca_file = ""`, `ca_file = "`+ca+`"`, 1)
		return strings.Replace(text, `url = ""  `, `url = "`+url+`"  `, 1)
	}
	cfg, err := Parse([]byte(withBankID("test", "https://127.0.0.1:8081/rp/v6.0/", caFile)))
	if err != nil {
		t.Fatalf("a test environment with url and ca_file refused: %v", err)
	}
	if cfg.BankID.URL != "https://127.0.0.1:8081/rp/v6.0/" || cfg.BankID.CAFile != caFile {
		t.Errorf("read url %q, ca_file %q", cfg.BankID.URL, cfg.BankID.CAFile)
	}
	if cfg, err := Parse(good); err != nil || cfg.BankID.URL != "" {
		t.Errorf("the example: url %q, err %v; want empty", cfg.BankID.URL, err)
	}
	for _, c := range []struct {
		name, env, url, ca, want string
	}{
		{"production", "production", "https://127.0.0.1:8081/rp/v6.0/", caFile, `may only point environment = "test"`},
		{"plain http", "test", "http://127.0.0.1:8081/rp/v6.0/", caFile, "must use https"},
		{"not a URL", "test", "127.0.0.1:8081", caFile, "not a URL"},
		{"no ca_file", "test", "https://127.0.0.1:8081/rp/v6.0/", "", "needs bankid.ca_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(withBankID(c.env, c.url, c.ca)))
			if err == nil || !strings.Contains(err.Error(), "bankid.url: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v; want a fault at bankid.url saying %q", err, c.want)
			}
		})
	}
}

// staff.require_2fa: on unless a file turns it off, off in dev.
func TestRequire2FA(t *testing.T) {
	if !Default().Staff.Require2FA {
		t.Error("staff.require_2fa is off by default; the spec has it on in serve")
	}
	if Dev(t.TempDir(), 0).Staff.Require2FA {
		t.Error("staff.require_2fa is on in dev; the README's first steps log in with the account password")
	}
	path := configtest.Example(t, time.Now().Add(400*24*time.Hour))
	text, _ := os.ReadFile(path)
	off := strings.Replace(string(text), "require_2fa = true ", "require_2fa = false", 1)
	configtest.Write(t, path, []byte(off))
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Staff.Require2FA {
		t.Error("require_2fa = false in the file is not read")
	}
}
