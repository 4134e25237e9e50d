package staffweb

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigill/internal/authgate"
	"sigill/passkey/passkeytest"
)

const (
	passkeyRPID   = "localhost"
	passkeyOrigin = "http://localhost:8090"
)

// begin asks a begin route for a ceremony, as static/passkey.js does.
func (b *browser) begin(path string) (ceremony string, options []byte) {
	b.e.t.Helper()
	a := b.post(path, nil)
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		b.e.t.Fatalf("POST %s: %d %s %s", path, a.status, a.header.Get("Content-Type"), a.body)
	}
	var begun struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal([]byte(a.body), &begun); err != nil || begun.Ceremony == "" {
		b.e.t.Fatalf("POST %s answered %q: %v", path, a.body, err)
	}
	return begun.Ceremony, begun.Options
}

// addPasskey adds key to the signed-in account from the account page.
func (b *browser) addPasskey(key *passkeytest.Authenticator, name string) answer {
	b.e.t.Helper()
	ceremony, options := b.begin("/account/passkeys/begin")
	cred, err := key.Create(options)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.post("/account/passkeys", url.Values{"name": {name}, "ceremony": {ceremony}, "credential": {string(cred)}})
}

// passkeySignIn signs in with key as the sign-in page's script does.
func (b *browser) passkeySignIn(key *passkeytest.Authenticator) answer {
	b.e.t.Helper()
	ceremony, options := b.begin("/login/passkey/begin")
	cred, err := key.Get(options)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.post("/login/passkey", url.Values{"ceremony": {ceremony}, "credential": {string(cred)}})
}

func newKey() *passkeytest.Authenticator { return passkeytest.New(passkeyRPID, passkeyOrigin) }

// withPasskey signs staffAddr in with the password and adds a passkey on
// the account page: the key and the signed-in browser.
func (e *env) withPasskey() (*passkeytest.Authenticator, *browser) {
	e.t.Helper()
	key, b := newKey(), e.browser()
	b.signIn(staffAddr, nil)
	if a := b.addPasskey(key, "Nyckel"); a.status != http.StatusSeeOther {
		e.t.Fatalf("adding a passkey: %d %s", a.status, a.body)
	}
	return key, b
}

var reScript = regexp.MustCompile(`<script src="(/static/passkey\.[0-9a-f]+\.js)" defer></script>`)

// The account page adds a passkey, lists it, and the passkey then signs in
// alone from the sign-in page: a new session, the start page, its last use
// on the account page.
func TestPasskeyAddedOnAccountPageSignsInAlone(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	page := b.get("/account")
	if !strings.Contains(page.body, `id="passkey-add" data-passkey="create" data-begin="/account/passkeys/begin"`) || !strings.Contains(page.body, "Inga passkeys.") {
		t.Fatalf("the account page has no passkey form:\n%s", page.body)
	}
	key := newKey()
	if a := b.addPasskey(key, "Arbetsdatorn"); a.status != http.StatusSeeOther || a.location != "/account" {
		t.Fatalf("adding a passkey: %d → %s %s", a.status, a.location, a.body)
	}
	page = b.get("/account")
	if !strings.Contains(page.body, `<table class="list" id="passkeys">`) || !strings.Contains(page.body, "<td data-label=\"Namn\">Arbetsdatorn</td>") ||
		!strings.Contains(page.body, "Passkeyn är tillagd") || !strings.Contains(page.body, "aldrig") {
		t.Fatalf("the account page after adding, want the passkey listed (never used) and the notice:\n%s", page.body)
	}
	if a := b.post("/logout", nil); a.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", a.status)
	}

	c := e.browser()
	login := c.get("/login")
	if !strings.Contains(login.body, `data-passkey="get" data-begin="/login/passkey/begin"`) || !reScript.MatchString(login.body) {
		t.Fatalf("the sign-in page offers no passkey:\n%s", login.body)
	}
	if a := c.passkeySignIn(key); a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("passkey sign-in: %d → %s %s", a.status, a.location, a.body)
	}
	if home := c.get("/"); home.status != http.StatusOK || !strings.Contains(home.body, staffAddr) {
		t.Fatalf("the start page after a passkey sign-in: %d %s", home.status, home.body)
	}
	if page := c.get("/account"); strings.Contains(page.body, "aldrig") {
		t.Errorf("the passkey's last use is not shown after it signed in:\n%s", page.body)
	}
}

// With a passkey the password leads to the second-factor page, which for
// an account without TOTP offers the passkey only; the passkey signs in
// with a new session id, and the one from before no longer opens anything.
func TestPasskeyAsSecondFactor(t *testing.T) {
	e := newEnv(t)
	key, b := e.withPasskey()
	b.post("/logout", nil)

	c := e.browser()
	if a := c.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/2fa" {
		t.Fatalf("the password of an account with a passkey → %d %s, want /login/2fa", a.status, a.location)
	}
	halfway := c.cookie()
	page := c.get("/login/2fa")
	if strings.Contains(page.body, `name="code"`) || !strings.Contains(page.body, "Använd din passkey") || !strings.Contains(page.body, `id="passkey-signin"`) {
		t.Fatalf("the second-factor page of a passkey-only account:\n%s", page.body)
	}
	if a := c.passkeySignIn(key); a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("passkey as the second factor: %d → %s %s", a.status, a.location, a.body)
	}
	if c.cookie() == "" || c.cookie() == halfway {
		t.Error("the session id after the passkey is the one from before it")
	}
	if c.get("/").status != http.StatusOK {
		t.Error("not signed in after the passkey")
	}
	stale := e.browser()
	stale.setCookie(halfway)
	if a := stale.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Errorf("the session id from before the passkey opens %d %s", a.status, a.location)
	}
}

func TestPasskeySignInRefusals(t *testing.T) {
	e := newEnv(t)
	key, b := e.withPasskey()
	b.post("/logout", nil)

	t.Run("replayed answer", func(t *testing.T) {
		c := e.browser()
		ceremony, options := c.begin("/login/passkey/begin")
		cred, _ := key.Get(options)
		form := url.Values{"ceremony": {ceremony}, "credential": {string(cred)}}
		if a := c.post("/login/passkey", form); a.status != http.StatusSeeOther {
			t.Fatalf("first answer: %d", a.status)
		}
		d := e.browser()
		a := d.post("/login/passkey", form)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "användes försöket redan") || d.cookie() != "" {
			t.Errorf("the same answer again: %d cookie %q\n%s", a.status, d.cookie(), a.body)
		}
	})
	t.Run("key the site does not know", func(t *testing.T) {
		forger := newKey()
		forger.Handle = key.Handle
		c := e.browser()
		a := c.passkeySignIn(forger)
		if a.status != http.StatusUnauthorized || !strings.Contains(a.body, "Passkeyn godtogs inte") || c.cookie() != "" {
			t.Errorf("an unknown key: %d cookie %q\n%s", a.status, c.cookie(), a.body)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		if err := e.v.SetDisabled(staffAddr, true); err != nil {
			t.Fatal(err)
		}
		defer e.v.SetDisabled(staffAddr, false)
		c := e.browser()
		a := c.passkeySignIn(key)
		if a.status != http.StatusForbidden || !strings.Contains(a.body, "Kontot är avstängt") || c.cookie() != "" {
			t.Errorf("a disabled account's passkey: %d cookie %q\n%s", a.status, c.cookie(), a.body)
		}
	})
	t.Run("cross-site", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/login/passkey/begin", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if a := e.browser().do(req); a.status != http.StatusForbidden {
			t.Errorf("a cross-site begin: %d", a.status)
		}
	})
}

// Refused answers go through the gate the passwords go through: after the
// burst, even the right passkey and the right password wait.
func TestRefusedPasskeysAreThrottled(t *testing.T) {
	e := newEnv(t)
	key, b := e.withPasskey()
	b.post("/logout", nil)

	forger := newKey()
	forger.Handle = key.Handle
	c := e.browser()
	for i := range 5 {
		if a := c.passkeySignIn(forger); a.status != http.StatusUnauthorized {
			t.Fatalf("refused answer %d: %d", i+1, a.status)
		}
	}
	if a := c.passkeySignIn(key); a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "För många försök") {
		t.Errorf("the right passkey after five refused answers: %d\n%s", a.status, a.body)
	}
	if a := c.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.status != http.StatusTooManyRequests {
		t.Errorf("the password after five refused passkeys: %d (one gate)", a.status)
	}
}

// staff.require_2fa: the enrolment page offers a passkey beside TOTP, and
// adding one there signs in.
func TestEnrolmentWithPasskey(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Require2FA = true })
	b := e.browser()
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/enrol" {
		t.Fatalf("first sign-in under require_2fa → %s", a.location)
	}
	page := b.get("/login/enrol")
	if !strings.Contains(page.body, `id="passkey-enrol" data-passkey="create" data-begin="/login/enrol/passkey/begin"`) || !strings.Contains(page.body, `action="/login/enrol"`) {
		t.Fatalf("the enrolment page offers no passkey beside TOTP:\n%s", page.body)
	}
	if a := b.get("/"); a.location != "/login/enrol" {
		t.Fatalf("before enrolment / → %s", a.location)
	}
	key := newKey()
	ceremony, options := b.begin("/login/enrol/passkey/begin")
	cred, _ := key.Create(options)
	if a := b.post("/login/enrol/passkey", url.Values{"name": {""}, "ceremony": {ceremony}, "credential": {string(cred)}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("an unnamed passkey: %d\n%s", a.status, a.body)
	}
	if a := b.post("/login/enrol/passkey", url.Values{"name": {"Telefonen"}, "ceremony": {ceremony}, "credential": {string(cred)}}); a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("enrolling a passkey: %d → %s\n%s", a.status, a.location, a.body)
	}
	if a := b.get("/"); a.status != http.StatusOK {
		t.Fatalf("after enrolling a passkey / → %d %s", a.status, a.location)
	}
	if page := b.get("/account"); !strings.Contains(page.body, "På: passkey") || strings.Contains(page.body, "Tjänsten kräver tvåstegsverifiering") {
		t.Errorf("the account page does not count the passkey as the second factor:\n%s", page.body)
	}
}

func TestPasskeyRemoved(t *testing.T) {
	e := newEnv(t)
	key, b := e.withPasskey()
	other := e.browser()
	other.signIn(adminAddr, nil)
	if a := other.post("/account/passkeys/"+key.ID()+"/remove", nil); a.status != http.StatusNotFound {
		t.Errorf("another account removing anna's passkey: %d", a.status)
	}
	if a := b.post("/account/passkeys/"+key.ID()+"/remove", nil); a.status != http.StatusSeeOther || a.location != "/account" {
		t.Fatalf("removing: %d %s", a.status, a.location)
	}
	if page := b.get("/account"); !strings.Contains(page.body, "Passkeyn är borttagen") || strings.Contains(page.body, `id="passkeys"`) {
		t.Errorf("the account page after the removal:\n%s", page.body)
	}
	b.post("/logout", nil)
	if a := e.browser().passkeySignIn(key); a.status != http.StatusUnauthorized {
		t.Errorf("a removed passkey signs in: %d", a.status)
	}
}

// The administrators' reset of the second factor takes the passkeys too
// (passkey.ResetSecondFactor, the one `sigill user 2fa ADDRESS reset`
// calls).
func TestAdminResetRemovesPasskeys(t *testing.T) {
	e := newEnv(t)
	key, _ := e.withPasskey()
	admin := e.browser()
	admin.signIn(adminAddr, nil)
	page := admin.get("/admin/accounts")
	if !strings.Contains(page.body, `<td data-label="Tvåsteg">passkey</td>`) || !strings.Contains(page.body, `aria-label="Nollställ tvåsteg: `+staffAddr+`"`) {
		t.Fatalf("the accounts page does not show anna's passkey with a reset:\n%s", page.body)
	}
	if a := admin.post("/admin/accounts/reset-2fa", url.Values{"address": {staffAddr}}); a.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", a.status, a.body)
	}
	if list, _ := e.web.opt.Passkeys.List(t.Context(), staffAddr); len(list) != 0 {
		t.Errorf("anna keeps %d passkeys after the reset", len(list))
	}
	if a := e.browser().passkeySignIn(key); a.status != http.StatusUnauthorized {
		t.Errorf("the passkey signs in after the reset: %d", a.status)
	}
}

// The script is one of the hashed static files, so the CSP stays
// script-src 'self' with nothing inline.
func TestPasskeyScriptIsAStaticFile(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	page := b.get("/login")
	m := reScript.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no passkey script on the sign-in page:\n%s", page.body)
	}
	if n := strings.Count(page.body, "<script"); n != strings.Count(page.body, "<script src=") {
		t.Errorf("an inline script on the sign-in page:\n%s", page.body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	js := b.get(m[1])
	if js.status != http.StatusOK || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "navigator.credentials.get") {
		t.Errorf("GET %s: %d %s", m[1], js.status, js.header.Get("Content-Type"))
	}
}

// POST /login/passkey/begin needs no sign-in and stores a ceremony each
// time: it is throttled per client address (apart from the password
// tries, which still sign in), and refused while the store holds the
// most ceremonies it takes.
func TestPasskeyBeginBounded(t *testing.T) {
	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, func(o *Options) { o.PasskeyBegins = authgate.Limits{Burst: 3, Window: time.Hour} })
		b := e.browser()
		for range 3 {
			b.begin("/login/passkey/begin")
		}
		if a := b.post("/login/passkey/begin", nil); a.status != http.StatusTooManyRequests {
			t.Fatalf("a fourth begin from the address: %d, want 429", a.status)
		}
		b.signIn(staffAddr, nil)
	})
	t.Run("ceremonies under way", func(t *testing.T) {
		e := newEnv(t)
		e.web.opt.Passkeys.MaxCeremonies = 2
		b := e.browser()
		b.begin("/login/passkey/begin")
		b.begin("/login/passkey/begin")
		if a := b.post("/login/passkey/begin", nil); a.status != http.StatusTooManyRequests {
			t.Fatalf("a begin past the bound: %d, want 429", a.status)
		}
		e.clock.Advance(5 * time.Minute) // the two expire
		b.begin("/login/passkey/begin")
	})
}

// A page a POST shows again (a refused passkey, a refused name) switches
// language at its GET route: the POST's path has no page of its own.
func TestLanguageLinkOfARefusedForm(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	a := b.post("/login/passkey", url.Values{"ceremony": {"gone"}, "credential": {"{}"}})
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, `href="/login?lang=en"`) {
		t.Fatalf("the sign-in page after a refused passkey: %d, language link %q; want it to /login", a.status, reLangLink.FindString(a.body))
	}
	b.signIn(staffAddr, nil)
	a = b.post("/account/passkeys", url.Values{"name": {""}, "ceremony": {"gone"}, "credential": {"{}"}})
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `href="/account?lang=en"`) {
		t.Fatalf("the account page after a refused passkey name: %d, language link %q; want it to /account", a.status, reLangLink.FindString(a.body))
	}
	if a := b.get("/account?lang=en"); a.status != http.StatusOK {
		t.Fatalf("the link's page: %d", a.status)
	}
}

var reLangLink = regexp.MustCompile(`href="[^"]*\?lang=[a-z]+"`)
