// Package config owns sigill's configuration: the TOML file of
// sigill.example.toml, the default of every key, the dev configuration that
// `sigill dev` runs with, and validation whose every message names the key at
// fault and how to mend it. A file's faults are reported all at once, wrong
// types included, in an admin's words. LoadForServe is the one check that
// `sigill serve` and `sigill check-config` share, down to the contents of the
// certificate and key files, so the two cannot disagree. Secrets are never
// written in the file itself: the `*_file` keys name files that Load reads.
package config

import (
	"fmt"
	"os"
	"strings"
)

// Config is the whole configuration. Field tags are the TOML keys of
// sigill.example.toml; a key the file has and Config has not is refused.
type Config struct {
	Organisation Organisation `toml:"organisation"`
	SMTP         SMTP         `toml:"smtp"`
	TLS          TLS          `toml:"tls"`
	Addressing   Addressing   `toml:"addressing"`
	Vault        Vault        `toml:"vault"`
	Node         Node         `toml:"node"`
	Store        Store        `toml:"store"`
	Notifier     Notifier     `toml:"notifier"`
	BankID       BankID       `toml:"bankid"`
	Reader       Reader       `toml:"reader"`
	IMAP         IMAP         `toml:"imap"`
	Receipts     Receipts     `toml:"receipts"`
	Staff        Staff        `toml:"staff"`
	API          API          `toml:"api"`
	Admin        Admin        `toml:"admin"`
	LoginLimit   LoginLimit   `toml:"login_limit"`
	GDPR         GDPR         `toml:"gdpr"`

	// Dev is set by Dev, never by a file: it allows what only a loopback
	// development instance may do (plain-text AUTH, the BankID simulator).
	Dev bool `toml:"-"`
	// DataDir and SimulatorListen exist only in dev: where the throwaway
	// BankID PKI is kept, and where the simulator's RP API listens.
	DataDir         string `toml:"-"`
	SimulatorListen string `toml:"-"`
}

type Organisation struct {
	Name        string `toml:"name"`
	SMSSender   string `toml:"sms_sender"`
	DefaultLang string `toml:"default_lang"`
	// ReplyCopy is a functional mailbox that gets every recipient's reply
	// too (a clerk is not always at work when the answer comes); "" for none.
	ReplyCopy string `toml:"reply_copy"`
}

type SMTP struct {
	Domains         []string `toml:"domains"`
	Hostname        string   `toml:"hostname"`
	MaxMessageBytes int64    `toml:"max_message_bytes"`
	MaxRecipients   int      `toml:"max_recipients"`
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	// FromHeader says what becomes of a message whose From header names
	// another address than the sender sigill vouches for (the account, or
	// the relay's envelope sender): FromOnBehalf or FromRefuse.
	FromHeader string     `toml:"from_header"`
	Submission Submission `toml:"submission"`
	Relay      Relay      `toml:"relay"`
}

// Values of smtp.from_header.
const (
	FromOnBehalf = "on_behalf" // shown as "sent by <vouched> on behalf of <From>"
	FromRefuse   = "refuse"    // refused at DATA with 550 5.7.1
)

type Submission struct {
	Listen            []string `toml:"listen"`
	ImplicitTLSListen []string `toml:"implicit_tls_listen"`
}

type Relay struct {
	Listen          []string `toml:"listen"`
	TrustedNetworks []string `toml:"trusted_networks"`
	SenderDomains   []string `toml:"sender_domains"`
}

type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

type Addressing struct {
	Region       string `toml:"region"`
	DefaultLogin string `toml:"default_login"`
	MaxLogins    int    `toml:"max_logins"`
}

type Vault struct {
	Path           string   `toml:"path"`
	Retention      Duration `toml:"retention"`
	MaxRetention   Duration `toml:"max_retention"` // the longest lifetime one message may ask for (exp=)
	AuditRetention Duration `toml:"audit_retention"`
	EscrowKey      string   `toml:"escrow_key"`
	// KeyFile is the key file (32 random bytes, created 0600 when
	// missing) that seals the key store: the same file on every node of
	// a shared store. Default: path + ".key".
	KeyFile string `toml:"key_file"`
	// Lease is how long a node's claim on an outbox job keeps the other
	// nodes from it: a dead node's notifications are sent by another once
	// it has passed. At least twice the notifier's send timeout (30 s).
	Lease Duration `toml:"lease"`
}

// Node is this process: its name among the nodes sharing one store, and
// how its Go garbage collector trades memory for CPU.
type Node struct {
	// ID is this node's name: its leases on outbox jobs and its outbox
	// keys are its own, and at start it releases the leases it held
	// before at once (others wait for vault.lease). Empty: a random one at
	// every start (then a restarted node's old leases run out instead).
	ID string `toml:"id"`
	// GCPercent is the collector's GOGC: how far the heap grows past what
	// is live before the next collection. Ingest allocates ~110 KB per
	// message against a live heap of a few MB, so at Go's 100 the
	// collector ran some 40 times a second at 2 KiB × 8 sessions; 400 took
	// 30 % off the CPU per message (BENCHMARKS.md). The GOGC environment
	// variable, when set, wins over it.
	GCPercent int `toml:"gc_percent"`
	// MemoryLimitMB is the collector's soft limit (GOMEMLIMIT) in MiB: as
	// the heap nears it the collector runs more often whatever
	// gc_percent says, so a high gc_percent cannot make the heap five times
	// a large live heap (many large messages at once). 0: no limit. The
	// GOMEMLIMIT environment variable, when set, wins over it.
	MemoryLimitMB int `toml:"memory_limit_mb"`
}

// Store chooses the engine under the vault's records.
type Store struct {
	// URL is a PostgreSQL database (postgres://user@host/db?…) every node
	// shares; empty: one bbolt file at vault.path, one node.
	URL string `toml:"url"`
}

type Notifier struct {
	Workers  int      `toml:"workers"`
	MaxAge   Duration `toml:"max_age"`
	LinkBase string   `toml:"link_base"`
	SMS      SMS      `toml:"sms"`
	Email    Email    `toml:"email"`
}

type SMS struct {
	Provider          string `toml:"provider"`
	URL               string `toml:"url"`
	Username          string `toml:"username"`
	PasswordFile      string `toml:"password_file"`
	DeliveryReportURL string `toml:"delivery_report_url"`

	Password string `toml:"-"` // read from PasswordFile by Load
}

type Email struct {
	Smarthost    string `toml:"smarthost"`
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	From         string `toml:"from"`

	Password string `toml:"-"` // read from PasswordFile by Load
}

type BankID struct {
	Environment             string `toml:"environment"`
	CertificateFile         string `toml:"certificate_file"`
	CertificatePasswordFile string `toml:"certificate_password_file"`
	CAFile                  string `toml:"ca_file"`
	UserVisibleText         string `toml:"user_visible_text"`
	// URL replaces the environment's RP API base URL, e.g. a simulator's
	// https://127.0.0.1:8081/rp/v6.0/ from `sigill bankid-simulator`. It is
	// sigill's addition to the spec's example and is allowed only with
	// environment "test" and a CAFile (see Validate).
	URL string `toml:"url"`

	CertificatePassword string `toml:"-"` // read from CertificatePasswordFile by Load
}

type Reader struct {
	Listen         []string `toml:"listen"`
	SessionTTL     Duration `toml:"session_ttl"`
	TrustedProxies []string `toml:"trusted_proxies"`
}

type IMAP struct {
	Listen         []string `toml:"listen"`
	StartTLSListen []string `toml:"starttls_listen"`
}

type Receipts struct {
	MailToSender bool `toml:"mail_to_sender"`
	// WholePersonalNumber shows the opener's whole personal number in every
	// receipt; false masks it where the sender wrote it in the address
	// (receipts.Org.WholePersonalNumber).
	WholePersonalNumber bool `toml:"whole_personal_number"`
}

// LoginLimit is the one gate against password guessing that SMTP
// submission and IMAP share (internal/authgate): each holds Burst tries per
// client address, and per account from addresses not known-good for it,
// with one more back per Window.
type LoginLimit struct {
	Burst  int      `toml:"burst"`
	Window Duration `toml:"window"`
}

// Staff is the staff listener, the REST API (/api/v1/) and the
// staff web (HTTPS with tls.cert_file in serve; off unless Listen is set,
// since it is meant for the internal network only), and how staff accounts
// log in.
type Staff struct {
	Listen []string `toml:"listen"`
	// URL is the staff web's address as staff open it, e.g.
	// "https://staff.example.se:8443". Its host name is the passkeys' site
	// (the WebAuthn relying party ID; WebAuthn refuses an IP address) and
	// its origin the only one a passkey answers for. Empty: no passkeys.
	// `sigill dev`: http://localhost:PORT.
	URL string `toml:"url"`
	// Require2FA: every account needs a second factor, so SMTP AUTH and
	// IMAP LOGIN take only app passwords (as they do for an account that
	// has one whatever this says). On by default; `sigill dev` turns it off.
	Require2FA bool `toml:"require_2fa"`
	// SessionIdle ends a staff web session this long after its last
	// request; SessionMax this long after sign-in, however busy.
	SessionIdle Duration `toml:"session_idle"`
	SessionMax  Duration `toml:"session_max"`
}

// API is the REST API's own settings (it is served on the staff listener).
type API struct {
	// WebhookAllow lists what webhook URLs may reach besides public
	// addresses: host names, "*.domain" patterns, IP addresses and CIDR
	// prefixes (internal/egress). Without an entry, a webhook to a
	// loopback, private or link-local address is refused; sigill dev
	// allows loopback.
	WebhookAllow []string `toml:"webhook_allow"`
}

// GDPR is how data-subject requests by personal number are carried out
// (sigill gdpr, the API's gdpr:admin).
type GDPR struct {
	// TwoPerson: an erasure waits until another administrator approves it
	// (sigill gdpr approve), instead of being carried out at once.
	TwoPerson bool `toml:"two_person"`
}

type Admin struct {
	Listen []string `toml:"listen"`
}

// Load reads a configuration file over the defaults, reads the secrets its
// `*_file` keys name, and validates the result. The error lists every fault
// found, one per line, each naming its key. It is what the commands that only
// need the vault's place (user, vault) read; `sigill serve` and `sigill
// check-config` go further with LoadForServe.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load for a file already in memory.
func Parse(data []byte) (*Config, error) {
	cfg, faults, _ := parse(data)
	if len(faults) > 0 {
		return nil, faults
	}
	return cfg, nil
}

// parse returns the configuration with every fault found: of TOML syntax,
// unknown keys, wrong types, unreadable secrets and bad values alike. A key
// at fault keeps its default, so the checks after it still run. A file that
// is not TOML (wellFormed false) has only its syntax fault.
func parse(data []byte) (cfg *Config, faults Faults, wellFormed bool) {
	cfg = Default()
	faults, wellFormed = decode(data, cfg)
	if !wellFormed {
		return cfg, faults, false
	}
	faults = append(faults, cfg.readSecrets()...)
	if err := cfg.Validate(); err != nil {
		faults = append(faults, err.(Faults)...)
	}
	return cfg, faults, true
}

// readSecrets fills the fields that `*_file` keys point at. A secret file
// that is named but cannot be read is a fault of that key.
func (c *Config) readSecrets() Faults {
	var faults Faults
	read := func(key, path string, into *string) {
		if path == "" {
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			faults.add(key, "cannot read the secret: %v", err)
			return
		}
		*into = strings.TrimRight(string(data), "\r\n")
	}
	read("notifier.sms.password_file", c.Notifier.SMS.PasswordFile, &c.Notifier.SMS.Password)
	read("notifier.email.password_file", c.Notifier.Email.PasswordFile, &c.Notifier.Email.Password)
	read("bankid.certificate_password_file", c.BankID.CertificatePasswordFile, &c.BankID.CertificatePassword)
	return faults
}
