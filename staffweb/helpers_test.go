package staffweb

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"sigill/apikey"
	"sigill/audit"
	"sigill/internal/authgate"
	"sigill/internal/testenv"
	"sigill/passkey"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
	"sigill/vault/sentindex"
)

const (
	staffAddr     = "anna@staff.test"
	staffPassword = "a long enough password"
	adminAddr     = "boss@staff.test"
)

// env is a staff web on 127.0.0.1 over a fresh vault, with a clock the
// test moves.
type env struct {
	t     *testing.T
	v     *vault.Vault
	keys  *apikey.Store
	trail *audit.Store
	boxes *mailbox.Store // the answers from the reader's page
	gate  *authgate.Gate
	clock *testenv.Clock
	web   *Server
	srv   *httptest.Server
	path  string
	opt   Options
	// secrets are the TOTP secrets enrolled, by address.
	secrets map[string]string
}

func newEnv(t *testing.T, tweak ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, secrets: map[string]string{}, clock: testenv.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)), path: filepath.Join(t.TempDir(), "sigill.db")}
	e.gate = authgate.New(authgate.Limits{Burst: 5, Window: time.Minute})
	e.gate.Delay = 0
	e.opt = Options{OrgName: "Testkommunen", Gate: e.gate, Now: e.clock.Now}
	for _, f := range tweak {
		f(&e.opt)
	}
	e.open()
	if err := e.v.AddAccount(staffAddr, staffPassword); err != nil {
		t.Fatal(err)
	}
	if err := e.v.AddAdmin(adminAddr, staffPassword); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens the vault at e.path and serves a staff web on it, on a new
// port or, after a restart, on the one before (so the browser's cookies
// still go to it).
func (e *env) open() {
	e.t.Helper()
	e.keys, e.trail = apikey.New(), audit.New(0)
	e.boxes = mailbox.New(mailbox.Options{Org: receipts.Org{Name: "Testkommunen", Hostname: "gateway.test", Lang: "sv"}, Now: e.clock.Now})
	v, err := vault.Open(vault.Options{Path: e.path, Now: e.clock.Now, Hooks: []vault.Hook{e.keys.Hook(), Hook(), sentindex.Hook(), e.trail.Hook(), passkey.Hook(), e.boxes.Hook()}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys.Attach(v)
	e.boxes.Attach(v)
	if err := e.trail.Attach(v); err != nil {
		e.t.Fatal(err)
	}
	e.v = v
	o := e.opt
	o.Vault, o.Keys, o.Audit, o.Replies = v, e.keys, e.trail, e.boxes
	// Passkeys for the site localhost, as the software authenticator
	// (passkeytest) answers; WebAuthn's origin is the page's as the
	// authenticator's client data names it, not the test server's.
	if o.Passkeys, err = passkey.New(v, passkeyRPID, "sigill", []string{passkeyOrigin}); err != nil {
		e.t.Fatal(err)
	}
	e.web, err = New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(e.web.Handler())
	if e.srv != nil {
		srv.Listener.Close()
		if srv.Listener, err = net.Listen("tcp", e.srv.Listener.Addr().String()); err != nil {
			e.t.Fatal(err)
		}
	}
	srv.Start()
	e.srv = srv
	e.t.Cleanup(func() { srv.Close(); v.Close() })
}

// restart stops the server and closes the vault, then opens both again:
// what a session keeps must be in the store.
func (e *env) restart() {
	e.t.Helper()
	e.srv.Close()
	e.v.Close()
	e.open()
}

// browser is a client with its own cookie jar that does not follow
// redirects, so that each answer can be looked at.
type browser struct {
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (b *browser) do(req *http.Request) answer {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body), header: resp.Header}
}

func (b *browser) get(path string) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as a browser on the page's own origin does.
func (b *browser) post(path string, form url.Values) answer {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// cookie is the value of the session cookie the browser holds.
func (b *browser) cookie() string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "sigill-staff" {
			return c.Value
		}
	}
	return ""
}

// signIn signs in with the password and, if code is not nil, its code.
func (b *browser) signIn(address string, code func() string) {
	b.e.t.Helper()
	a := b.post("/login", url.Values{"username": {address}, "password": {staffPassword}})
	if a.status != http.StatusSeeOther {
		b.e.t.Fatalf("POST /login: %d %s", a.status, a.body)
	}
	if code == nil {
		if a.location != "/" {
			b.e.t.Fatalf("POST /login → %s, want /", a.location)
		}
		return
	}
	if a.location != "/login/2fa" {
		b.e.t.Fatalf("POST /login → %s, want /login/2fa", a.location)
	}
	a = b.post("/login/2fa", url.Values{"code": {code()}})
	if a.status != http.StatusSeeOther || a.location != "/" {
		b.e.t.Fatalf("POST /login/2fa: %d → %s %s", a.status, a.location, a.body)
	}
}

// codeAt is the TOTP code of secret (as shown, in groups) at tm.
func codeAt(t *testing.T, secret string, tm time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(strings.ReplaceAll(secret, " ", ""), tm, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolled gives address an active TOTP and returns its secret and
// recovery codes, as `sigill user 2fa ADDRESS` does.
func (e *env) enrolled(address string) (string, []string) {
	e.t.Helper()
	en, err := e.v.EnrollTOTP(address)
	if err != nil {
		e.t.Fatal(err)
	}
	codes, err := e.v.ConfirmTOTP(address, codeAt(e.t, en.Secret, e.clock.Now()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second) // the confirming code's step is used
	e.secrets[address] = en.Secret
	return en.Secret, codes
}

var reSecret = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)

// setCookie gives the browser a session cookie of its own making.
func (b *browser) setCookie(value string) {
	u, _ := url.Parse(b.e.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "sigill-staff", Value: value, Path: "/"}})
}
