package smtpd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"sigill/internal/authgate"
	"sigill/internal/testenv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A password typed into the login field must not reach the log.
func TestFailedAuthLogsNoPassword(t *testing.T) {
	var log testenv.SyncBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	const typo = "Sommar2026!"
	_, err := submit(t, g.submission, sasl.NewPlainClient("", typo, typo), staff, []string{goodRcpt}, "")
	wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
	if out := log.String(); strings.Contains(out, typo) || !strings.Contains(out, "auth failed") {
		t.Errorf("log:\n%s", out)
	}
}

// parallelWrongLogins opens n connections, the i-th from source(i), and
// then sends a wrong AUTH PLAIN on all of them at once. It counts the
// answers: 535 means the password was checked, 454 that the gate refused
// it before.
func parallelWrongLogins(t *testing.T, addr string, n int, source func(i int) net.IP) (checked, refused int) {
	t.Helper()
	clients := make([]*smtp.Client, n)
	for i := range clients {
		clients[i] = smtp.NewClient(testenv.DialFrom(t, source(i), addr))
		if err := clients[i].Hello("guesser.test"); err != nil {
			t.Fatal(err)
		}
	}
	codes := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-start
			var se *smtp.SMTPError
			if err := c.Auth(sasl.NewPlainClient("", staff, fmt.Sprintf("guess %d", i))); errors.As(err, &se) {
				codes[i] = se.Code
			}
		})
	}
	close(start)
	wg.Wait()
	for i, code := range codes {
		switch code {
		case 535:
			checked++
		case 454:
			refused++
		default:
			t.Errorf("connection %d: AUTH answered %d; want 535 or 454", i, code)
		}
	}
	return checked, refused
}

// Tries in flight count: of 40 simultaneous wrong passwords from one
// address no more than the burst reach the password check.
func TestParallelWrongPasswordsFromOneAddress(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.PlainAuthOnLoopback = true })
	checked, refused := parallelWrongLogins(t, g.submission, 40, func(int) net.IP { return testenv.LoopbackSource(0) })
	if checked > authgate.DefaultBurst || checked+refused != 40 {
		t.Errorf("%d of 40 simultaneous wrong passwords from one address were checked (%d refused with 454); want at most %d",
			checked, refused, authgate.DefaultBurst)
	}
}

// The same from 40 addresses against one account, while the owner, from
// an address that logged in before, still gets in.
func TestParallelWrongPasswordsFromManyAddresses(t *testing.T) {
	g := startGateway(t, func(o *Options) { o.PlainAuthOnLoopback = true })
	office, elsewhere := testenv.LoopbackSource(100), testenv.LoopbackSource(101)
	login := func(from net.IP) error {
		c := smtp.NewClient(testenv.DialFrom(t, from, g.submission))
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", staff, staffPass))
	}
	if err := login(office); err != nil {
		t.Fatal(err)
	}
	checked, refused := parallelWrongLogins(t, g.submission, 40, testenv.LoopbackSource)
	if checked > authgate.DefaultBurst || checked+refused != 40 {
		t.Errorf("%d of 40 simultaneous wrong passwords from 40 addresses at one account were checked (%d refused with 454); want at most %d",
			checked, refused, authgate.DefaultBurst)
	}
	if err := login(office); err != nil {
		t.Errorf("the owner, from the address they logged in from before, is kept out: %v", err)
	}
	wantCode(t, login(elsewhere), 454, smtp.EnhancedCode{4, 7, 0}, "Too many failed logins")
}

// A failed login names its account only when the account exists; any other
// name — a personal number, a password typed into the login field — is a
// keyed hash, the same for the same name.
func TestFailedAuthLogsOnlyAccounts(t *testing.T) {
	var log testenv.SyncBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	for _, user := range append(testenv.FailedLoginNames, strings.ToUpper(staff)) {
		_, err := submit(t, g.submission, sasl.NewPlainClient("", user, "wrong"), staff, []string{goodRcpt}, "")
		wantCode(t, err, 535, smtp.EnhancedCode{5, 7, 8}, "wrong login or password")
	}
	testenv.CheckFailedLoginLog(t, log.String(), staff)
}

// A relayed sender carrying a personal number is refused at MAIL FROM
// (see TestRelayRefusesSendersItCannotVouchFor), and the log line of the
// refusal names neither the number nor the address.
func TestRefusedSenderIsNotLogged(t *testing.T) {
	var log testenv.SyncBuffer
	g := startGateway(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	c, err := smtp.Dial(g.relay)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = send(c, "199908072391@region.test", []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	wantCode(t, err, 553, smtp.EnhancedCode{5, 1, 7}, "personal identity number")
	out := log.String()
	if !strings.Contains(out, "sender refused") || strings.Contains(out, "2391") || strings.Contains(out, "region.test") {
		t.Errorf("want the refusal logged without the sender:\n%s", out)
	}
}

// go-smtp's own messages may quote what a client sent; personal numbers in
// them are masked.
func TestGoSMTPLogsAreMasked(t *testing.T) {
	var log testenv.SyncBuffer
	a := slogAdapter{slog.New(slog.NewTextHandler(&log, nil))}
	a.Printf("error handling %v: %s", "127.0.0.1:1", "bad line 199908072391")
	a.Println("panic", "19990807-2391")
	if out := log.String(); strings.Contains(out, "2391") || strings.Count(out, "19990807-****") != 2 {
		t.Errorf("log:\n%s", out)
	}
}
