package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"
)

// Default is the value every key has when a file leaves it out: that of
// sigill.example.toml, except for the listeners the example marks as off
// unless set (smtp.submission.implicit_tls_listen, the whole [smtp.relay],
// imap.starttls_listen): a port the file does not name stays closed.
func Default() *Config {
	return &Config{
		Organisation: Organisation{
			Name:        "Region Exempel",
			SMSSender:   "RegionEx",
			DefaultLang: "sv",
		},
		SMTP: SMTP{
			Domains:         []string{"secure.example.se"},
			Hostname:        "sigill.example.se",
			MaxMessageBytes: 25 << 20,
			MaxRecipients:   50,
			ReadTimeout:     durationOf(2 * time.Minute),
			WriteTimeout:    durationOf(2 * time.Minute),
			FromHeader:      FromOnBehalf,
			// Submission with STARTTLS is on by default; implicit TLS (465)
			// and the relay (25, which trusts its peers without AUTH) are
			// opened only when the file names them.
			Submission: Submission{Listen: []string{"0.0.0.0:587"}},
		},
		TLS: TLS{
			CertFile: "/etc/sigill/tls/fullchain.pem",
			KeyFile:  "/etc/sigill/tls/privkey.pem",
		},
		Addressing: Addressing{Region: "SE", MaxLogins: 20},
		Node:       Node{GCPercent: 400, MemoryLimitMB: 1024},
		Vault: Vault{
			Path:           "/var/lib/sigill/sigill.db",
			Retention:      durationOf(720 * time.Hour),
			MaxRetention:   durationOf(2160 * time.Hour),
			AuditRetention: durationOf(43800 * time.Hour), // 5 years: HSLF-FS 2016:40
			Lease:          durationOf(time.Minute),
		},
		Notifier: Notifier{
			Workers:  8,
			MaxAge:   durationOf(48 * time.Hour),
			LinkBase: "https://read.example.se",
			SMS: SMS{
				Provider:          "46elks",
				URL:               "https://api.46elks.com/a1/sms",
				PasswordFile:      "/etc/sigill/secrets/sms-password",
				DeliveryReportURL: "https://read.example.se/hooks/sms",
			},
			Email: Email{
				Smarthost: "mail.example.se:587",
				From:      "noreply@secure.example.se",
			},
		},
		BankID: BankID{
			Environment:             "production",
			CertificateFile:         "/etc/sigill/bankid/rp.p12",
			CertificatePasswordFile: "/etc/sigill/secrets/bankid-p12-password",
			UserVisibleText:         "Logga in för att läsa ett säkert meddelande från Region Exempel",
		},
		Reader:   Reader{Listen: []string{"0.0.0.0:443"}, SessionTTL: durationOf(15 * time.Minute)},
		IMAP:     IMAP{Listen: []string{"0.0.0.0:993"}},
		Receipts: Receipts{MailToSender: true},
		Admin:    Admin{Listen: []string{"127.0.0.1:9090"}},
		LoginLimit: LoginLimit{
			Burst:  5,
			Window: durationOf(time.Minute),
		},
		Staff: Staff{Require2FA: true, SessionIdle: durationOf(30 * time.Minute), SessionMax: durationOf(12 * time.Hour)},
	}
}

// Dev ports, before -listen-offset; design.md's "Running it" table.
const (
	DevSubmissionPort = 2587
	DevRelayPort      = 2525
	DevReaderPort     = 8080
	DevBankIDPort     = 8081
	DevIMAPPort       = 1143
	DevAdminPort      = 9090
	DevStaffPort      = 8090
	DevDomain         = "secure.test"
	DevAccount        = "dev@staff.test"
)

// Dev is the configuration `sigill dev` runs with: everything on 127.0.0.1,
// every port moved by offset, data under dataDir, no secrets and no files
// needed. It allows plain-text AUTH on loopback and the BankID simulator.
func Dev(dataDir string, offset int) *Config {
	at := func(port int) []string {
		return []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port+offset))}
	}
	c := Default()
	c.Dev = true
	c.DataDir = dataDir
	c.SimulatorListen = at(DevBankIDPort)[0]
	c.Organisation.Name = "sigill dev"
	c.Organisation.SMSSender = "sigill"
	c.SMTP.Domains = []string{DevDomain}
	c.SMTP.Hostname = "localhost"
	c.SMTP.Submission = Submission{Listen: at(DevSubmissionPort)}
	c.SMTP.Relay = Relay{Listen: at(DevRelayPort), TrustedNetworks: []string{"127.0.0.0/8", "::1/128"}}
	c.TLS = TLS{}
	c.Vault.Path = filepath.Join(dataDir, "sigill.db")
	// Short, so that a second dev node on the same store sends a killed
	// one's notifications within a minute (the dev providers answer at
	// once; the notifier's send timeout is 10 s in dev).
	c.Vault.Lease = durationOf(20 * time.Second)
	c.Notifier.LinkBase = fmt.Sprintf("http://127.0.0.1:%d", DevReaderPort+offset)
	c.Notifier.SMS = SMS{Provider: "log"}
	c.Notifier.Email = Email{From: "noreply@" + DevDomain}
	c.BankID = BankID{
		Environment:     "simulator",
		UserVisibleText: "Logga in för att läsa ett säkert meddelande (sigill dev)",
	}
	c.Reader.Listen = at(DevReaderPort)
	c.IMAP = IMAP{Listen: at(DevIMAPPort)}
	c.Receipts.MailToSender = false
	c.Admin.Listen = at(DevAdminPort)
	c.Staff.Require2FA = false // the README's first steps log in with the account password
	c.Staff.Listen = at(DevStaffPort)
	c.Staff.URL = fmt.Sprintf("http://localhost:%d", DevStaffPort+offset) // a name, not 127.0.0.1: passkeys need one
	return c
}
