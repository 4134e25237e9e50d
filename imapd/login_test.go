package imapd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sigill/internal/authgate"
	"sigill/internal/testenv"
)

// parallelWrongLogins opens n connections, the i-th from source(i), and
// then sends a wrong LOGIN on all of them at once. It counts the answers:
// NO [AUTHENTICATIONFAILED] means the password was checked, NO [UNAVAILABLE]
// that the gate refused it before.
func (e *env) parallelWrongLogins(n int, source func(i int) net.IP) (checked, refused int) {
	e.t.Helper()
	clients := make([]*imapclient.Client, n)
	for i := range clients {
		clients[i] = imapclient.New(testenv.DialFrom(e.t, source(i), e.addr), nil)
		if err := clients[i].WaitGreeting(); err != nil {
			e.t.Fatal(err)
		}
	}
	codes := make([]imap.ResponseCode, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-start
			var ie *imap.Error
			if err := c.Login(anna, fmt.Sprintf("guess %d", i)).Wait(); errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo {
				codes[i] = ie.Code
			}
		})
	}
	close(start)
	wg.Wait()
	for i, code := range codes {
		switch code {
		case imap.ResponseCodeAuthenticationFailed:
			checked++
		case imap.ResponseCodeUnavailable:
			refused++
		default:
			e.t.Errorf("connection %d: LOGIN answered NO [%s]; want AUTHENTICATIONFAILED or UNAVAILABLE", i, code)
		}
	}
	return checked, refused
}

// Tries in flight count: of 40 simultaneous wrong passwords from one
// address no more than the burst reach the password check.
func TestParallelWrongPasswordsFromOneAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	checked, refused := e.parallelWrongLogins(40, func(int) net.IP { return testenv.LoopbackSource(0) })
	if checked > authgate.DefaultBurst || checked+refused != 40 {
		t.Errorf("%d of 40 simultaneous wrong passwords from one address were checked (%d refused); want at most %d",
			checked, refused, authgate.DefaultBurst)
	}
}

// The same from 40 addresses against one account, while the owner, from
// an address that logged in before, still gets in.
func TestParallelWrongPasswordsFromManyAddresses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	office, elsewhere := testenv.LoopbackSource(100), testenv.LoopbackSource(101)
	login := func(from net.IP) error {
		c := imapclient.New(testenv.DialFrom(t, from, e.addr), nil)
		defer c.Close()
		return c.Login(anna, annaPass).Wait()
	}
	if err := login(office); err != nil {
		t.Fatal(err)
	}
	checked, refused := e.parallelWrongLogins(40, testenv.LoopbackSource)
	if checked > authgate.DefaultBurst || checked+refused != 40 {
		t.Errorf("%d of 40 simultaneous wrong passwords from 40 addresses at one account were checked (%d refused); want at most %d",
			checked, refused, authgate.DefaultBurst)
	}
	if err := login(office); err != nil {
		t.Errorf("the owner, from the address they logged in from before, is kept out: %v", err)
	}
	refusal(t, "the right password from a new address during the attack", login(elsewhere), imap.ResponseCodeUnavailable, "Too many failed logins")
}

// A failed login names its account only when the account exists; any other
// name — a personal number, a password typed into the login field — is a
// keyed hash, the same for the same name.
func TestFailedLoginLogsOnlyAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, user := range append(testenv.FailedLoginNames, strings.ToUpper(anna)) {
		c := e.dial(nil)
		refusal(t, user, c.Login(user, "wrong").Wait(), imap.ResponseCodeAuthenticationFailed, "")
		c.Close()
	}
	testenv.CheckFailedLoginLog(t, e.logs.String(), anna)
}

// go-imap's own messages may quote what a client sent; personal numbers in
// them are masked.
func TestGoIMAPLogsAreMasked(t *testing.T) {
	var logs testenv.SyncBuffer
	imapLogger{slog.New(slog.NewTextHandler(&logs, nil))}.Printf("failed to read command: %v", "unexpected 199908072391")
	if out := logs.String(); strings.Contains(out, "199908072391") || !strings.Contains(out, "19990807-****") {
		t.Errorf("log:\n%s", out)
	}
}

// LoginFailed hears of each refused LOGIN, with the client's address and
// the login as the log names it (an unknown name never in clear).
func TestLoginFailedIsTold(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		heard []string
	)
	e := newEnv(t, func(o *Options) {
		o.LoginFailed = func(ip netip.Addr, login, why string) {
			mu.Lock()
			defer mu.Unlock()
			heard = append(heard, ip.String()+" "+login+" "+why)
		}
	})
	for _, user := range []string{anna, "199908072391"} {
		c := e.dial(nil)
		refusal(t, user, c.Login(user, "wrong").Wait(), imap.ResponseCodeAuthenticationFailed, "")
		c.Close()
	}
	c, _ := e.login(anna, annaPass, nil)
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(heard) != 2 || !strings.HasPrefix(heard[0], "127.0.0.1 "+anna+" ") || !strings.HasPrefix(heard[1], "127.0.0.1 unknown:") || strings.Contains(strings.Join(heard, "\n"), "199908072391") {
		t.Errorf("LoginFailed heard %q; want the two refusals, the unknown name hashed", heard)
	}
}
