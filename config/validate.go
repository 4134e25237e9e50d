package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"sigill/internal/egress"
)

// Fault is one thing wrong with a configuration, at one key.
type Fault struct {
	Key string // dotted TOML key, e.g. "vault.retention"
	Msg string // the fault and how to mend it
}

func (f Fault) String() string { return f.Key + ": " + f.Msg }

// Faults is every fault found; as an error it prints one per line.
type Faults []Fault

func (fs Faults) Error() string {
	lines := make([]string, len(fs))
	for i, f := range fs {
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}

func (fs *Faults) add(key, format string, args ...any) {
	*fs = append(*fs, Fault{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (fs Faults) err() error {
	if len(fs) == 0 {
		return nil
	}
	return fs
}

var (
	alnumSender = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{1,10}$`)
	e164        = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	hostname    = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// Validate checks every key and returns all faults at once, so an admin
// mends the file in one pass.
func (c *Config) Validate() error {
	var f Faults

	if strings.TrimSpace(c.Organisation.Name) == "" {
		f.add("organisation.name", "is empty; write the name recipients know you by")
	}
	if s := c.Organisation.SMSSender; !alnumSender.MatchString(s) && !e164.MatchString(s) {
		f.add("organisation.sms_sender", "%q is neither 2-11 letters and digits starting with a letter nor an E.164 number like +46701234567", s)
	}
	f.lang("organisation.default_lang", c.Organisation.DefaultLang)
	if r := c.Organisation.ReplyCopy; r != "" {
		if a, err := mail.ParseAddress(r); err != nil || a.Name != "" || a.Address != r {
			f.add("organisation.reply_copy", "%q is not a bare e-mail address; write e.g. \"kansli@example.se\", or \"\" for none", r)
		}
	}

	if len(c.SMTP.Domains) == 0 {
		f.add("smtp.domains", "is empty; list the gateway's domains, e.g. [\"secure.example.se\"]")
	}
	for _, d := range c.SMTP.Domains {
		f.domain("smtp.domains", d)
	}
	f.domain("smtp.hostname", c.SMTP.Hostname)
	if c.SMTP.MaxMessageBytes < 1024 {
		f.add("smtp.max_message_bytes", "%d is too small; write a size in bytes such as 26214400 (25 MiB)", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxRecipients < 1 {
		f.add("smtp.max_recipients", "%d must be at least 1", c.SMTP.MaxRecipients)
	}
	f.duration("smtp.read_timeout", c.SMTP.ReadTimeout, "2m")
	f.duration("smtp.write_timeout", c.SMTP.WriteTimeout, "2m")
	if h := c.SMTP.FromHeader; h != FromOnBehalf && h != FromRefuse {
		f.add("smtp.from_header", "%q must be %q (a From header naming someone else is shown as on behalf of them, beside the sender sigill vouches for) or %q (such a message is refused)", h, FromOnBehalf, FromRefuse)
	}
	f.listen("smtp.submission.listen", c.SMTP.Submission.Listen)
	f.listen("smtp.submission.implicit_tls_listen", c.SMTP.Submission.ImplicitTLSListen)
	f.listen("smtp.relay.listen", c.SMTP.Relay.Listen)
	for _, n := range c.SMTP.Relay.TrustedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			f.add("smtp.relay.trusted_networks", "%q is not a network; write CIDR such as \"10.0.0.0/8\" or \"192.0.2.7/32\"", n)
		}
	}
	if len(c.SMTP.Relay.Listen) > 0 && len(c.SMTP.Relay.TrustedNetworks) == 0 {
		f.add("smtp.relay.trusted_networks", "is empty while smtp.relay.listen is set; name the MTAs that may relay, or remove the listener")
	}
	if !c.Dev && len(c.SMTP.Relay.Listen) > 0 && len(c.SMTP.Relay.SenderDomains) == 0 {
		f.add("smtp.relay.sender_domains", "is empty while smtp.relay.listen is set; list the organisation's sender domains")
	}
	for _, d := range c.SMTP.Relay.SenderDomains {
		f.domain("smtp.relay.sender_domains", d)
	}

	if !c.Dev {
		f.file("tls.cert_file", c.TLS.CertFile, "the PEM certificate chain for STARTTLS, HTTPS and IMAPS")
		f.file("tls.key_file", c.TLS.KeyFile, "the PEM private key of tls.cert_file")
	}

	if !phonenumbers.GetSupportedRegions()[c.Addressing.Region] {
		f.add("addressing.region", "%q is not a region code; write a two-letter code such as \"SE\"", c.Addressing.Region)
	}
	if d := c.Addressing.DefaultLogin; d != "" && d != "*" {
		f.add("addressing.default_login", "%q must be \"\" (a recipient without login= is refused) or \"*\" (anyone with BankID)", d)
	}
	if n := c.Addressing.MaxLogins; n < 1 || n > 100 {
		f.add("addressing.max_logins", "%d must be between 1 and 100", n)
	}

	if c.Vault.Path == "" {
		f.add("vault.path", "is empty; write where the vault file lives, e.g. /var/lib/sigill/sigill.db")
	}
	f.duration("vault.retention", c.Vault.Retention, "720h")
	f.duration("vault.lease", c.Vault.Lease, "60s")
	if l := c.Vault.Lease; !l.bad && l.Duration > 0 && l.Duration < time.Minute && !c.Dev {
		f.add("vault.lease", "%s is shorter than 60s, twice the notifier's send timeout: a claim could run out while its notification is being sent", l.text)
	}
	if u := c.Store.URL; u != "" && !postgresURL(u) {
		f.add("store.url", "is not a PostgreSQL URL; write postgres://user@host/database (or leave it empty for the bbolt file at vault.path)")
	}
	if id := c.Node.ID; id != "" && !validNodeID(id) {
		f.add("node.id", "%q: write 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	if n := c.Node.GCPercent; n < 25 || n > 10000 {
		f.add("node.gc_percent", "%d must be between 25 and 10000 (Go's own default is 100)", n)
	}
	if n := c.Node.MemoryLimitMB; n != 0 && n < 64 {
		f.add("node.memory_limit_mb", "%d MiB is too small a heap for the gateway; write 64 or more, or 0 for no limit", n)
	}
	f.duration("vault.max_retention", c.Vault.MaxRetention, "2160h")
	f.duration("vault.audit_retention", c.Vault.AuditRetention, "43800h")
	switch maxRet := c.Vault.MaxRetention; {
	case maxRet.Duration < c.Vault.Retention.Duration:
		f.add("vault.max_retention", "%s is shorter than vault.retention %s; a message may ask for a longer lifetime than the default, never the default be longer than any", maxRet.text, c.Vault.Retention.text)
	case maxRet.Duration%time.Minute != 0:
		f.add("vault.max_retention", "%s is not whole minutes; a lifetime (exp=) is written in minutes, hours, days or weeks", maxRet.text)
	}
	if longest := max(c.Vault.Retention.Duration, c.Vault.MaxRetention.Duration); c.Vault.AuditRetention.Duration < longest {
		f.add("vault.audit_retention", "%s is shorter than vault.retention %s or vault.max_retention %s; the audit trail must outlive the content", c.Vault.AuditRetention.text, c.Vault.Retention.text, c.Vault.MaxRetention.text)
	}
	if c.Vault.EscrowKey != "" {
		f.file("vault.escrow_key", c.Vault.EscrowKey, "the organisation's armored OpenPGP public key")
	}

	if n := c.Notifier.Workers; n < 1 || n > 1024 {
		f.add("notifier.workers", "%d must be between 1 and 1024", n)
	}
	f.duration("notifier.max_age", c.Notifier.MaxAge, "48h")
	f.url("notifier.link_base", c.Notifier.LinkBase, c.Dev)
	switch c.Notifier.SMS.Provider {
	case "log":
		if !c.Dev {
			f.add("notifier.sms.provider", "\"log\" sends nothing and is for sigill dev only; write \"46elks\" or \"webhook\"")
		}
	case "46elks", "webhook":
		f.url("notifier.sms.url", c.Notifier.SMS.URL, false)
		if c.Notifier.SMS.DeliveryReportURL != "" {
			f.url("notifier.sms.delivery_report_url", c.Notifier.SMS.DeliveryReportURL, false)
		}
		f.smsCredentials(c.Notifier.SMS)
	default:
		f.add("notifier.sms.provider", "%q is not a provider; write \"46elks\", \"webhook\" or \"log\"", c.Notifier.SMS.Provider)
	}
	if !c.Dev {
		if _, _, err := net.SplitHostPort(c.Notifier.Email.Smarthost); err != nil {
			f.add("notifier.email.smarthost", "%q is not host:port; write e.g. \"mail.example.se:587\"", c.Notifier.Email.Smarthost)
		}
	}
	if _, err := mail.ParseAddress(c.Notifier.Email.From); err != nil {
		f.add("notifier.email.from", "%q is not an e-mail address", c.Notifier.Email.From)
	}

	switch c.BankID.Environment {
	case "production", "test":
		if c.BankID.CertificateFile == "" {
			f.add("bankid.certificate_file", "is empty; BankID's %s environment needs the RP certificate (PKCS#12)", c.BankID.Environment)
		} else {
			f.file("bankid.certificate_file", c.BankID.CertificateFile, "the RP certificate (PKCS#12)")
		}
		if c.BankID.CAFile != "" {
			f.file("bankid.ca_file", c.BankID.CAFile, "a PEM root for BankID's servers")
		}
	case "simulator":
		if !c.Dev {
			f.add("bankid.environment", "\"simulator\" lets anyone sign in as anyone and runs only in sigill dev; write \"production\" or \"test\"")
		}
	default:
		f.add("bankid.environment", "%q is not an environment; write \"production\", \"test\" or \"simulator\"", c.BankID.Environment)
	}
	f.bankidURL(c.BankID)
	if strings.TrimSpace(c.BankID.UserVisibleText) == "" {
		f.add("bankid.user_visible_text", "is empty; write what the BankID app shows the recipient")
	}

	f.listen("reader.listen", c.Reader.Listen)
	f.duration("reader.session_ttl", c.Reader.SessionTTL, "15m")
	for _, p := range c.Reader.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				f.add("reader.trusted_proxies", "%q is neither an IP address nor a CIDR network", p)
			}
		}
	}
	f.listen("imap.listen", c.IMAP.Listen)
	f.listen("imap.starttls_listen", c.IMAP.StartTLSListen)
	f.listen("admin.listen", c.Admin.Listen)
	f.listen("staff.listen", c.Staff.Listen)
	f.staffURL(c.Staff.URL)
	f.duration("staff.session_idle", c.Staff.SessionIdle, "30m")
	f.duration("staff.session_max", c.Staff.SessionMax, "12h")
	for _, a := range c.API.WebhookAllow {
		if err := egress.CheckAllow([]string{a}); err != nil {
			f.add("api.webhook_allow", "%v", err)
		}
	}
	if n := c.LoginLimit.Burst; n < 1 || n > 1000 {
		f.add("login_limit.burst", "%d must be between 1 and 1000 (tries at once per address, and per account from unknown addresses)", n)
	}
	f.duration("login_limit.window", c.LoginLimit.Window, "1m")
	return f.err()
}

// bankidURL checks bankid.url, the override of BankID's RP API base URL. It
// exists to point a test deployment at a simulator, so it is refused with
// environment = "production" (a production gateway can never be sent to a
// fake by a stray line) and needs ca_file, since BankID's pinned test root
// would match no other server.
func (f *Faults) bankidURL(b BankID) {
	if b.URL == "" {
		return
	}
	if b.Environment != "test" {
		f.add("bankid.url", "is set while bankid.environment is %q; it may only point environment = \"test\" at another RP API such as a simulator, so remove the line", b.Environment)
		return
	}
	u, err := url.Parse(b.URL)
	switch {
	case err != nil || u.Host == "":
		f.add("bankid.url", "%q is not a URL; write the RP API base URL, e.g. \"https://127.0.0.1:8081/rp/v6.0/\"", b.URL)
	case u.Scheme != "https":
		f.add("bankid.url", "%q must use https (the RP API is mutual TLS); write e.g. \"https://127.0.0.1:8081/rp/v6.0/\"", b.URL)
	}
	if b.CAFile == "" {
		f.add("bankid.url", "needs bankid.ca_file: BankID's pinned test root matches no other server; name the PEM root of the server at %q", b.URL)
	}
}

// smsCredentials asks for what each provider needs to send (notifier.NewElks
// and NewWebhook refuse to start without it). A password file that could not
// be read is already a fault of readSecrets.
func (f *Faults) smsCredentials(s SMS) {
	readable := s.PasswordFile != "" && fileExists(s.PasswordFile)
	switch s.Provider {
	case "46elks":
		if s.Username == "" {
			f.add("notifier.sms.username", "is empty; write the API username from 46elks's dashboard")
		}
		switch {
		case s.PasswordFile == "":
			f.add("notifier.sms.password_file", "is empty; name the file that holds the 46elks API password")
		case readable && s.Password == "":
			f.add("notifier.sms.password_file", "%s is empty; write the 46elks API password in it", s.PasswordFile)
		}
	case "webhook":
		switch {
		case s.PasswordFile == "":
			f.add("notifier.sms.password_file", "is empty; name the file that holds the webhook's HMAC secret (16 bytes or more)")
		case readable && len(strings.TrimSpace(s.Password)) < 16:
			f.add("notifier.sms.password_file", "%s holds %d bytes; the webhook's HMAC secret must have at least 16", s.PasswordFile, len(strings.TrimSpace(s.Password)))
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (f *Faults) lang(key, v string) {
	if v != "sv" && v != "en" {
		f.add(key, "%q is not a language sigill speaks; write \"sv\" or \"en\"", v)
	}
}

func (f *Faults) domain(key, d string) {
	if !hostname.MatchString(d) || !strings.Contains(d, ".") && d != "localhost" {
		f.add(key, "%q is not a domain name", d)
	}
}

func (f *Faults) duration(key string, d Duration, example string) {
	switch {
	case d.bad:
		f.add(key, "%q is not a duration; write it like %s (units h, m, s)", d.text, example)
	case d.Duration <= 0:
		f.add(key, "%q must be longer than zero; write it like %s", d.text, example)
	}
}

func (f *Faults) listen(key string, addrs []string) {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err == nil && host != "" {
			_, err = netip.ParseAddr(host)
		}
		if err != nil || port == "" {
			f.add(key, "%q is not an IP:port to listen on; write e.g. \"0.0.0.0:587\"", a)
		}
	}
}

func (f *Faults) url(key, v string, allowHTTP bool) {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "":
		f.add(key, "%q is not a URL; write e.g. \"https://read.example.se\"", v)
	case u.Scheme != "https" && !(allowHTTP && u.Scheme == "http"):
		f.add(key, "%q must use https", v)
	}
}

// staffURL checks staff.url, the passkeys' site: https (http only for
// localhost, which browsers count as secure), a host name and no path.
func (f *Faults) staffURL(v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		f.add("staff.url", "%q is not a URL; write the staff web's address, e.g. \"https://staff.example.se:8443\"", v)
	case u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost"):
		f.add("staff.url", "%q must use https (http only for localhost)", v)
	case isIP(u.Hostname()):
		f.add("staff.url", "%q names an IP address; passkeys (WebAuthn) need a host name, e.g. \"https://staff.example.se:8443\"", v)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		f.add("staff.url", "%q has a path; write only the scheme, host name and port", v)
	}
}

func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

func (f *Faults) file(key, path, what string) {
	if path == "" {
		f.add(key, "is empty; name %s", what)
		return
	}
	if _, err := os.Stat(path); err != nil {
		f.add(key, "%s: %v", what, err)
	}
}

// postgresURL tells whether u is a URL pgx connects with: postgres:// or
// postgresql:// (postgres:///db is the local socket). The fault never
// repeats u: it may carry a password.
func postgresURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "postgres" || p.Scheme == "postgresql")
}

// validNodeID tells whether id is a node's name: 1 to 64 ASCII letters,
// digits, '.', '_' or '-' (it is written into records and logs).
func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
