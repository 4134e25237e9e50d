package smtpd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/addressing"
	"sigill/intake"
	"sigill/internal/authgate"
	"sigill/passkey"
	"sigill/vault"
)

const (
	staff        = "anna@staff.test"
	staffPass    = "correct horse battery"
	goodRcpt     = "0701234567&login=199908072391&@secure.test"
	secondRcpt   = "anna.svensson=example.com&login=198611239883&@secure.test"
	testSubject  = "Provsvar"
	testBodyLine = "Hej! Ditt provsvar är klart."
)

// gateway is a running smtpd over a real vault, on loopback ports.
type gateway struct {
	vault                 *vault.Vault
	submission, relay     string
	submissionImplicitTLS string
	server                *Server
}

type setup func(*Options)

func startGateway(t testing.TB, changes ...setup) *gateway {
	t.Helper()
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{passkey.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.AddAccount(staff, staffPass); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Hostname:        "localhost",
		Policy:          addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"},
		MaxMessageBytes: 64 << 10,
		MaxRecipients:   3,
		ReadTimeout:     5 * time.Second,
		WriteTimeout:    5 * time.Second,
		TLS:             serverTLS(t),
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Rules:           intake.Rules{DefaultErrand: map[string]string{"sv": "Säkert meddelande", "en": "Secure message"}},
		Vault:           v,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, change := range changes {
		change(&opts)
	}
	g := &gateway{vault: v, server: New(opts)}
	g.submission = serveOn(t, g.server.ServeSubmission)
	g.relay = serveOn(t, g.server.ServeRelay)
	g.submissionImplicitTLS = serveOn(t, g.server.ServeSubmissionTLS)
	return g
}

func serveOn(t testing.TB, serve func(net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go serve(ln)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func serverTLS(t testing.TB) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

var clientTLS = &tls.Config{InsecureSkipVerify: true} // the test's own throwaway certificate

func plainMessage(subject, body string) string {
	return "From: Anna <" + staff + ">\r\nTo: <" + goodRcpt + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + rand.Text() + "@staff.test>\r\nDate: Sat, 28 Nov 2026 09:00:00 +0100\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
}

// submit logs in over STARTTLS and sends; it returns the 250 text or the error.
func submit(t *testing.T, addr string, auth sasl.Client, from string, to []string, msg string) (string, error) {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return "", err
		}
	}
	return send(c, from, to, msg)
}

func send(c *smtp.Client, from string, to []string, msg string) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	io.WriteString(w, msg)
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

func wantCode(t *testing.T, err error, code int, enhanced smtp.EnhancedCode, text string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v; want %d %v", err, code, enhanced)
	}
	if se.Code != code || se.EnhancedCode != enhanced || !strings.Contains(se.Message, text) {
		t.Fatalf("got %d %v %q; want %d %v containing %q", se.Code, se.EnhancedCode, se.Message, code, enhanced, text)
	}
}

// queuedID checks the 250 text and returns the message id it names.
func queuedID(t *testing.T, g *gateway, text string) string {
	t.Helper()
	id, ok := strings.CutSuffix(strings.TrimPrefix(text, "2.0.0 "), " queued")
	if !ok || id == "" {
		t.Fatalf("250 text %q; want \"<id> queued\"", text)
	}
	events, err := g.vault.Events(id)
	if err != nil || len(events) == 0 || events[0].Kind != vault.EventAccepted {
		t.Fatalf("message %s not in the vault: events %v, err %v", id, events, err)
	}
	return id
}

func TestSubmissionAuthPlainAndLogin(t *testing.T) {
	g := startGateway(t)
	for name, auth := range map[string]sasl.Client{
		"PLAIN": sasl.NewPlainClient("", staff, staffPass),
		"LOGIN": sasl.NewLoginClient(staff, staffPass),
	} {
		t.Run(name, func(t *testing.T) {
			text, err := submit(t, g.submission, auth, staff, []string{goodRcpt, secondRcpt}, plainMessage(testSubject, testBodyLine))
			if err != nil {
				t.Fatal(err)
			}
			id := queuedID(t, g, text)
			events, _ := g.vault.Events(id)
			if len(events) != 2 {
				t.Errorf("%d accepted events; want one per recipient (2)", len(events))
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	g := startGateway(t)
	c, err := smtp.DialTLS(g.submissionImplicitTLS, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", staff, staffPass)); err != nil {
		t.Fatal(err)
	}
	text, err := send(c, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	queuedID(t, g, text)
}

func TestAuthRefusedWithoutTLS(t *testing.T) {
	g := startGateway(t)
	c, err := smtp.Dial(g.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS outside dev")
	}
	err = c.Auth(sasl.NewPlainClient("", staff, staffPass))
	wantCode(t, err, 523, smtp.EnhancedCode{5, 7, 10}, "TLS")
	err = c.Mail(staff, nil)
	wantCode(t, err, 530, smtp.EnhancedCode{5, 7, 0}, "Authentication required")
}

func TestPlainAuthOnLoopbackInDev(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.PlainAuthOnLoopback = true })
	c, err := smtp.Dial(g.submission)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewLoginClient(staff, staffPass)); err != nil {
		t.Fatalf("dev: AUTH LOGIN without TLS on loopback: %v", err)
	}
	text, err := send(c, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	queuedID(t, g, text)
}

func TestMailBeforeAuth(t *testing.T) {
	g := startGateway(t)
	_, err := submit(t, g.submission, nil, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	wantCode(t, err, 530, smtp.EnhancedCode{5, 7, 0}, "log in")
}

func TestSenderMustBeTheAccount(t *testing.T) {
	g := startGateway(t)
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), "boss@staff.test", []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	wantCode(t, err, 553, smtp.EnhancedCode{5, 7, 1}, "logged in as "+staff)
	// The same address in other case is the same account.
	text, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), strings.ToUpper(staff), []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	queuedID(t, g, text)
}

func TestWrongPasswordIsSlowedThenRefused(t *testing.T) {
	g := startGateway(t)
	for i := 0; i < authgate.DefaultBurst; i++ {
		start := time.Now()
		_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, "wrong password"), staff, []string{goodRcpt}, "")
		wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
		if time.Since(start) < authgate.DefaultDelay {
			t.Fatalf("failure %d answered before the %v delay", i+1, authgate.DefaultDelay)
		}
	}
	// Now even the right password is not tried from this address.
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, "")
	wantCode(t, err, 454, smtp.EnhancedCode{4, 7, 0}, "Too many failed logins")
}

func TestRecipientFaultsAtRcpt(t *testing.T) {
	g := startGateway(t)
	cases := []struct {
		rcpt     string
		code     int
		enhanced smtp.EnhancedCode
		text     string
	}{
		{"0701234567&login=199908072391&@example.com", 550, smtp.EnhancedCode{5, 7, 1}, "relay"},
		{"&login=199908072391&@secure.test", 550, smtp.EnhancedCode{5, 1, 3}, "no recipient"},
		{"08123456&login=199908072391&@secure.test", 550, smtp.EnhancedCode{5, 1, 3}, "not a mobile number"},
		{"0701234567&login=199908072392&@secure.test", 550, smtp.EnhancedCode{5, 1, 3}, "check digit"},
		{"0701234567@secure.test", 550, smtp.EnhancedCode{5, 1, 3}, "login="},
		{"0701234567&logni=199908072391&@secure.test", 550, smtp.EnhancedCode{5, 1, 3}, "logni"},
	}
	for _, c := range cases {
		t.Run(c.rcpt, func(t *testing.T) {
			client, err := smtp.DialStartTLS(g.submission, clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if err := client.Auth(sasl.NewPlainClient("", staff, staffPass)); err != nil {
				t.Fatal(err)
			}
			if err := client.Mail(staff, nil); err != nil {
				t.Fatal(err)
			}
			err = client.Rcpt(c.rcpt, nil)
			wantCode(t, err, c.code, c.enhanced, c.text)
			if !strings.Contains(err.Error(), "<"+c.rcpt+">") {
				t.Errorf("reply %q does not name the recipient", err)
			}
		})
	}
}

func TestOversizeRefused(t *testing.T) {
	g := startGateway(t)
	before, _ := g.vault.Stats()
	big := plainMessage(testSubject, strings.Repeat(strings.Repeat("x", 70)+"\r\n", 1024))
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, big)
	wantCode(t, err, 552, smtp.EnhancedCode{5, 3, 4}, "")
	after, _ := g.vault.Stats()
	if after.Messages != before.Messages {
		t.Errorf("an oversize message was stored: %d → %d", before.Messages, after.Messages)
	}
}

func TestOverlongLineRefused(t *testing.T) {
	g := startGateway(t)
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt},
		plainMessage(testSubject, strings.Repeat("x", 3000)))
	wantCode(t, err, 554, smtp.EnhancedCode{5, 6, 0}, "longer than")
}

func TestTooManyRecipients(t *testing.T) {
	g := startGateway(t)
	rcpts := []string{
		"0701234567&login=199908072391&@secure.test",
		"0701234568&login=199908072391&@secure.test",
		"0701234569&login=199908072391&@secure.test",
		"0701234560&login=199908072391&@secure.test",
	}
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, rcpts, plainMessage(testSubject, testBodyLine))
	wantCode(t, err, 452, smtp.EnhancedCode{4, 5, 3}, "")
}

func TestRelayFromUntrustedPeerRefused(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.TrustedNetworks = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c, err := smtp.Dial(g.relay)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Hello("mta.example.se")
	wantCode(t, err, 554, smtp.EnhancedCode{5, 7, 1}, "not a trusted relay")
}

func TestRelayFromTrustedPeer(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.SenderDomains = []string{"staff.test"} })
	c, err := smtp.Dial(g.relay)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("someone@elsewhere.test", nil); err == nil {
		t.Fatal("relay took a sender outside smtp.relay.sender_domains")
	} else {
		wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1}, "staff.test")
	}
	text, err := send(c, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	queuedID(t, g, text)
}

func TestPersonalNumberInSubjectRefused(t *testing.T) {
	g := startGateway(t)
	before, _ := g.vault.Stats()
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt},
		plainMessage("Provsvar för 19990807-2391", testBodyLine))
	wantCode(t, err, 554, smtp.EnhancedCode{5, 7, 1}, "19990807-****")
	if strings.Contains(err.Error(), "2391") {
		t.Errorf("the refusal repeats the whole number: %v", err)
	}
	after, _ := g.vault.Stats()
	if after.Messages != before.Messages {
		t.Error("the refused message was stored")
	}
}

// The number written so that a person reads it but a plain digit search
// would not: fullwidth (raw UTF-8 and RFC 2047-encoded, as Outlook sends
// it), in groups, parted by a TAB (raw; the SMS shows it as a space) and
// with U+FE0F between every digit (RFC 2047-encoded). A date and time in
// the errand still pass, a TAB between them too.
func TestWrittenPersonalNumberInSubjectRefused(t *testing.T) {
	g := startGateway(t)
	auth := sasl.NewPlainClient("", staff, staffPass)
	for _, subject := range []string{
		"１９９９０８０７２３９１",
		"=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Svar １９９９０８０７－２３９１")) + "?=",
		"Svar 1999 08 07 2391",
		"Svar 19990807\t2391",
		"=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("Svar "+strings.Join(strings.Split("199908072391", ""), "\ufe0f"))) + "?=",
	} {
		before, _ := g.vault.Stats()
		_, err := submit(t, g.submission, auth, staff, []string{goodRcpt}, plainMessage(subject, testBodyLine))
		wantCode(t, err, 554, smtp.EnhancedCode{5, 7, 1}, "The Subject holds a personal identity number (19990807-****)")
		if after, _ := g.vault.Stats(); after.Messages != before.Messages {
			t.Errorf("Subject %q: the refused message was stored", subject)
		}
	}
	text, err := submit(t, g.submission, auth, staff, []string{goodRcpt}, plainMessage("Tid 2024-05-12 kl 10, ring 070-123 45 67, åter 2024-05-19\t10:30", testBodyLine))
	if err != nil {
		t.Fatalf("a date and a phone number in the Subject: %v", err)
	}
	queuedID(t, g, text)
}

func TestEmptySubjectGetsDefaultErrand(t *testing.T) {
	g := startGateway(t)
	text, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage("", testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, g, text)
	jobs, _ := g.vault.PendingJobs()
	for _, j := range jobs {
		if j.MessageID == id && j.Errand != "Säkert meddelande" {
			t.Errorf("errand %q; want the default", j.Errand)
		}
	}
}

// A vault on a full disk answers 451: the client keeps the message. The
// disk's ENOSPC is injected where bbolt would meet it, at the commit.
func TestVaultFullIsTemporary(t *testing.T) {
	g := startGateway(t)
	var diskFull atomic.Bool
	full, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "full.db"), FailCommit: func(int) error {
		if diskFull.Load() {
			return fmt.Errorf("write full.db: %w", syscall.ENOSPC)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if err := full.AddAccount(staff, staffPass); err != nil {
		t.Fatal(err)
	}
	g.server.opts.Vault = full
	diskFull.Store(true)
	_, got := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	wantCode(t, got, 451, smtp.EnhancedCode{4, 3, 0}, "try again later")
	if n, _ := full.OutboxLen(); n != 0 {
		t.Errorf("%d jobs queued by a refused message", n)
	}
	// With room again the same message is taken.
	diskFull.Store(false)
	if _, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine)); err != nil {
		t.Fatalf("after the disk has room again: %v", err)
	}
}

func TestDuplicateRecipientCountsOnce(t *testing.T) {
	g := startGateway(t)
	same := []string{goodRcpt, "+46701234567&LOGIN=199908072391@secure.test"}
	text, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, same, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, g, text)
	if events, _ := g.vault.Events(id); len(events) != 1 {
		t.Errorf("%d recipients stored for one person written twice; want 1", len(events))
	}
}

// A SIGTERM right after the start must still end every listener: Shutdown
// may come before the goroutines that serve them have begun.
func TestShutdownRightAfterStart(t *testing.T) {
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{passkey.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for range 20 {
		s := New(Options{Hostname: "localhost", Vault: v, TLS: serverTLS(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		done := make(chan error, 3)
		for _, serve := range []func(net.Listener) error{s.ServeSubmission, s.ServeSubmissionTLS, s.ServeRelay} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go func() { done <- serve(ln) }()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.Shutdown(ctx)
		cancel()
		for range 3 {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("a listener still serves after Shutdown")
			}
		}
	}
}

// An empty message is refused for good (554), not deferred: a 451 would
// keep nothing in the sender's queue until it expires.
func TestEmptyMessageRefused(t *testing.T) {
	g := startGateway(t)
	before, _ := g.vault.Stats()
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, "")
	wantCode(t, err, 554, smtp.EnhancedCode{5, 6, 0}, "empty")
	if after, _ := g.vault.Stats(); after.Messages != before.Messages {
		t.Error("the empty message was stored")
	}
}

// A header line that cannot be read is named in a one-line reply.
func TestUnreadableHeaderReplyIsOneLine(t *testing.T) {
	g := startGateway(t)
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt},
		"Subject: x\r\nno colon line\r\n\r\nbody\r\n")
	wantCode(t, err, 554, smtp.EnhancedCode{5, 6, 0}, "cannot be read")
	if strings.ContainsAny(err.(*smtp.SMTPError).Message, "\r\n") {
		t.Errorf("the reply spans lines: %q", err)
	}
}

// A Subject in raw Windows-1252 / ISO-8859-1 bytes, as old clients write
// it, reaches the SMS as the letters the sender typed.
func TestRawLatin1Subject(t *testing.T) {
	g := startGateway(t)
	text, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt},
		plainMessage("R\xe5d om l\xe4kemedel", testBodyLine))
	if err != nil {
		t.Fatal(err)
	}
	if got := jobFor(t, g, queuedID(t, g, text)).Errand; got != "Råd om läkemedel" {
		t.Errorf("errand %q, want %q", got, "Råd om läkemedel")
	}
}

// forgedFrom is plainMessage with a From header that names someone other
// than the sender.
func forgedFrom(from string) string {
	return strings.Replace(plainMessage(testSubject, testBodyLine), "From: Anna <"+staff+">", "From: "+from, 1)
}

// With smtp.from_header = "refuse", a From header that names another
// address than the sender the gateway vouches for (the account; through the
// relay, the envelope sender) is refused at DATA with the reason; the
// vouched address under any display name passes. By default such a message
// is accepted (the reader page shows it as on behalf of).
func TestOtherFromHeader(t *testing.T) {
	refusing := startGateway(t, func(o *Options) { o.Rules.RefuseOtherFrom = true; o.SenderDomains = []string{"staff.test"} })
	auth := func() sasl.Client { return sasl.NewPlainClient("", staff, staffPass) }
	for _, from := range []string{`"Region Chef" <chef@region.example>`, "chef@region.example", "<" + staff + ">, <chef@region.example>", "Region Chef"} {
		_, err := submit(t, refusing.submission, auth(), staff, []string{goodRcpt}, forgedFrom(from))
		wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1}, "but this gateway vouches only for the sender <"+staff+">")
	}
	for _, from := range []string{`"Region Chef" <` + strings.ToUpper(staff) + `>`, staff} {
		text, err := submit(t, refusing.submission, auth(), staff, []string{goodRcpt}, forgedFrom(from))
		if err != nil {
			t.Fatalf("From %s: %v", from, err)
		}
		queuedID(t, refusing, text)
	}
	// Through the relay the envelope sender is the one vouched for.
	relayed := func(g *gateway, envelope, from string) (string, error) {
		c, err := smtp.Dial(g.relay)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return send(c, envelope, []string{goodRcpt}, forgedFrom(from))
	}
	_, err := relayed(refusing, "clinic@staff.test", `"Region Chef" <chef@region.example>`)
	wantCode(t, err, 550, smtp.EnhancedCode{5, 7, 1}, "The From header names chef@region.example, but this gateway vouches only for the sender <clinic@staff.test>")
	if text, err := relayed(refusing, "clinic@staff.test", "Mottagningen <clinic@staff.test>"); err != nil {
		t.Fatal(err)
	} else {
		queuedID(t, refusing, text)
	}

	showing := startGateway(t)
	text, err := submit(t, showing.submission, auth(), staff, []string{goodRcpt}, forgedFrom(`"Region Chef" <chef@region.example>`))
	if err != nil {
		t.Fatalf("by default a foreign From is kept: %v", err)
	}
	queuedID(t, showing, text)
}
