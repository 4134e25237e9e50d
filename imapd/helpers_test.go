package imapd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"sigill/addressing"
	"sigill/internal/authgate"
	"sigill/internal/testenv"
	"sigill/passkey"
	"sigill/receipts"
	receiptbox "sigill/receipts/mailbox"
	"sigill/vault"
)

// The only personal numbers test data may use.
const (
	pn1 = "199908072391"
	pn2 = "198611239883"
	pn3 = "200211242383"
)

const (
	anna     = "anna@staff.test"
	annaPass = "anna-secret-pass"
	bo       = "bo@staff.test"
	boPass   = "bo-secret-pass"
)

var org = receipts.Org{Name: "Region Test", Hostname: "sigill.test", From: "noreply@secure.test", Lang: "sv"}

// env is a vault with two staff accounts and an IMAP server on loopback.
type env struct {
	t    testing.TB
	path string
	v    *vault.Vault
	mbs  *receiptbox.Store
	srv  *Server
	addr string
	opt  Options
	logs *testenv.SyncBuffer
	now  func() time.Time // the vault's clock; nil: time.Now
}

// newEnv starts a server; mod adjusts its options (InsecureAuth is on
// unless mod turns it off).
func newEnv(t testing.TB, mod func(*Options)) *env {
	t.Helper()
	return newEnvClock(t, nil, mod)
}

func newEnvClock(t testing.TB, now func() time.Time, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "sigill.db"), logs: &testenv.SyncBuffer{}, now: now}
	e.openVault()
	for _, a := range [][2]string{{anna, annaPass}, {bo, boPass}} {
		if err := e.v.AddAccount(a[0], a[1]); err != nil {
			t.Fatal(err)
		}
	}
	gate := authgate.New(authgate.Limits{})
	gate.Delay = 0 // failures answer at once here; the gate's own tests cover the delay
	e.opt = Options{Org: org, InsecureAuth: true, Logger: slog.New(slog.NewTextHandler(e.logs, nil)), AuthGate: gate}
	if mod != nil {
		mod(&e.opt)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) openVault() {
	mbs := receiptbox.New(receiptbox.Options{})
	v, err := vault.Open(vault.Options{Path: e.path, Now: e.now, Hooks: []vault.Hook{mbs.Hook(), passkey.Hook()}})
	if err != nil {
		e.t.Fatal(err)
	}
	mbs.Attach(v)
	e.v, e.mbs = v, mbs
}

func (e *env) start() {
	e.t.Helper()
	o := e.opt
	o.Vault, o.Mailboxes = e.v, e.mbs
	e.srv = New(o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go e.srv.Serve(ln)
}

func (e *env) stop() {
	if e.srv != nil {
		e.srv.Close()
		e.srv = nil
	}
	if e.v != nil {
		e.v.Close()
		e.v = nil
	}
}

// restart stops the server and the vault and starts both again on the same
// file.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.openVault()
	e.start()
}

// send accepts a message from account (or, with account "", relayed from
// sender) to one SMS recipient who may be pn1.
func (e *env) send(account, sender, errand string) string {
	e.t.Helper()
	raw := "From: <" + sender + ">\r\nSubject: " + errand + "\r\nMessage-ID: <" + errand + "@kommun.test>\r\n\r\nHej!\r\n"
	a, err := e.v.Accept(context.Background(), vault.Incoming{
		Sender: sender, Account: account, Errand: errand, MessageID: errand + "@kommun.test", Raw: []byte(raw),
		Recipients: []vault.Recipient{{
			Address: "0701234567&login=" + pn1 + "&@secure.test",
			Recipient: addressing.Recipient{
				Channel: addressing.SMS, To: "+46701234567", Logins: []string{pn1}, Born: []string{}, Lang: "sv",
			},
		}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func (e *env) record(id string, kind vault.EventKind, pn, name string) {
	e.t.Helper()
	if err := e.v.Record(vault.Event{MessageID: id, Kind: kind, PersonalNumber: pn, Name: name}); err != nil {
		e.t.Fatal(err)
	}
}

// want is the receipt the vault's mailbox entry uid of account stands for.
func (e *env) want(account string, uid uint32) []byte {
	e.t.Helper()
	box, err := e.mbs.Mailbox(account)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, en := range box.Entries {
		if en.UID == uid {
			l, ev, err := e.mbs.Receipt(en.Event)
			if err != nil {
				e.t.Fatal(err)
			}
			b, err := receipts.Build(org, l, ev)
			if err != nil {
				e.t.Fatal(err)
			}
			return b
		}
	}
	e.t.Fatalf("%s has no UID %d", account, uid)
	return nil
}

func (e *env) dial(opts *imapclient.Options) *imapclient.Client {
	e.t.Helper()
	c, err := imapclient.DialInsecure(e.addr, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// login dials, logs in and selects INBOX.
func (e *env) login(user, pass string, opts *imapclient.Options) (*imapclient.Client, *imap.SelectData) {
	e.t.Helper()
	c := e.dial(opts)
	if err := c.Login(user, pass).Wait(); err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return c, sel
}

func fetch(t *testing.T, c *imapclient.Client, set imap.NumSet, o *imap.FetchOptions) []*imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, o).Collect()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func hasFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// refusal checks that err is a NO with code and a text containing words.
func refusal(t *testing.T, what string, err error, code imap.ResponseCode, words string) {
	t.Helper()
	var ie *imap.Error
	if !errors.As(err, &ie) {
		t.Errorf("%s: %v, want NO [%s]", what, err, code)
		return
	}
	if ie.Type != imap.StatusResponseTypeNo || ie.Code != code || !strings.Contains(ie.Text, words) {
		t.Errorf("%s: %s [%s] %q, want NO [%s] with %q", what, ie.Type, ie.Code, ie.Text, code, words)
	}
}

// testTLS is a certificate for 127.0.0.1 and a client config that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// waitExists sends NOOP until the client has heard of n messages: the
// server learns of a new receipt from the vault asynchronously.
func waitExists(t *testing.T, c *imapclient.Client, n uint32) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if mb := c.Mailbox(); mb != nil && mb.NumMessages >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no EXISTS %d within 2 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawConn speaks IMAP by hand, for answers a client library would hide.
type rawConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dialRaw connects to the server and reads its greeting; every read after
// limit fails the test.
func (e *env) dialRaw(limit time.Duration) *rawConn {
	e.t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(limit))
	c := &rawConn{t: e.t, c: conn, r: bufio.NewReader(conn)}
	c.line()
	return c
}

func (c *rawConn) line() string {
	c.t.Helper()
	s, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading: %v", err)
	}
	return strings.TrimRight(s, "\r\n")
}

func (c *rawConn) send(line string) { fmt.Fprintf(c.c, "%s\r\n", line) }

// cmd sends "tag command" and returns the lines up to and including the
// tagged answer.
func (c *rawConn) cmd(tag, command string) []string {
	c.t.Helper()
	c.send(tag + " " + command)
	return c.until(tag)
}

// until reads the lines up to and including the one tagged tag.
func (c *rawConn) until(tag string) []string {
	c.t.Helper()
	var out []string
	for {
		s := c.line()
		out = append(out, s)
		if strings.HasPrefix(s, tag+" ") {
			return out
		}
	}
}
