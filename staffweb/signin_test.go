package staffweb

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/audit"
	"sigill/vault"
)

// TestPasswordOnlySignIn: without a second factor (and without
// staff.require_2fa) the password signs in, the start page names the
// account, and sign-out ends the session.
func TestPasswordOnlySignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if a := b.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET / before sign-in: %d → %q", a.status, a.location)
	}
	if a := b.get("/login"); a.status != 200 || !strings.Contains(a.body, `name="password"`) || !strings.Contains(a.body, `<html lang="sv">`) {
		t.Fatalf("GET /login: %d %s", a.status, a.body)
	}
	b.signIn(staffAddr, nil)
	a := b.get("/")
	if a.status != 200 || !strings.Contains(a.body, staffAddr) {
		t.Fatalf("GET / signed in: %d %s", a.status, a.body)
	}
	old := b.cookie()
	if a = b.post("/logout", nil); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("POST /logout: %d → %q", a.status, a.location)
	}
	if a = b.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET / after sign-out: %d → %q", a.status, a.location)
	}
	// The signed-out cookie, kept by someone, opens nothing either.
	other := e.browser()
	other.setCookie(old)
	if a = other.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET / with the cookie from before sign-out: %d → %q", a.status, a.location)
	}
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {"wrong password!"}}); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "Fel e-postadress eller lösenord") || !strings.Contains(a.body, `value="`+staffAddr+`"`) {
		t.Fatalf("wrong password: %d %s", a.status, a.body)
	}
}

// TestSecondFactorSignIn: with TOTP the password leads to /login/2fa, a
// code signs in, and the same code again (inside its window) is refused.
func TestSecondFactorSignIn(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrolled(staffAddr)
	code := codeAt(t, secret, e.clock.Now())
	b := e.browser()
	b.signIn(staffAddr, func() string { return code })
	if a := b.get("/"); a.status != 200 {
		t.Fatalf("GET / after the second factor: %d", a.status)
	}

	// Half-way, nothing but the second-factor page opens.
	c := e.browser()
	if a := c.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/2fa" {
		t.Fatalf("POST /login → %q", a.location)
	}
	for _, path := range []string{"/", "/account"} {
		if a := c.get(path); a.status != http.StatusSeeOther || a.location != "/login/2fa" {
			t.Errorf("GET %s before the code: %d → %q, want 303 to /login/2fa", path, a.status, a.location)
		}
	}
	a := c.post("/login/2fa", url.Values{"code": {code}})
	if a.status != http.StatusUnauthorized || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("the same code again: %d → %q; want 401 with the field marked", a.status, a.location)
	}
	if a := c.get("/"); a.location != "/login/2fa" {
		t.Fatalf("after a replayed code GET / → %q, want still /login/2fa", a.location)
	}
	e.clock.Advance(30 * time.Second)
	next := codeAt(t, secret, e.clock.Now())
	if a := c.post("/login/2fa", url.Values{"code": {next[:3] + " " + next[3:]}}); a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("the next step's code: %d → %q", a.status, a.location)
	}
}

// TestRecoveryCodeOnce: a recovery code signs in once; the second time
// it is refused.
func TestRecoveryCodeOnce(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enrolled(staffAddr)
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		b := e.browser()
		if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/2fa" {
			t.Fatalf("POST /login → %q", a.location)
		}
		a := b.post("/login/2fa", url.Values{"recovery_code": {strings.ToLower(codes[3])}})
		if a.status != want {
			t.Fatalf("use %d of a recovery code: %d → %q, want %d", i+1, a.status, a.location, want)
		}
		if i == 0 {
			if a := b.get("/"); a.status != 200 || !strings.Contains(a.body, "återställningskod") {
				t.Errorf("after a recovery code the start page does not say one was used: %d", a.status)
			}
		}
	}
	if acct, _ := e.v.Account(staffAddr); acct.RecoveryCodes != 9 {
		t.Errorf("%d recovery codes left, want 9", acct.RecoveryCodes)
	}
}

// TestThrottle: after Burst wrong passwords the gate refuses even the
// right one (429), without looking at it; wrong codes are counted alike.
func TestThrottle(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for i := range 5 {
		if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {"wrong " + string(rune('a'+i))}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i+1, a.status)
		}
	}
	a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}})
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "För många försök") {
		t.Fatalf("the right password after 5 wrong: %d, want 429", a.status)
	}

	// Codes: a fresh gate (its buckets refill in real time), a session at
	// the second factor, five wrong codes.
	f := newEnv(t)
	secret, _ := f.enrolled(staffAddr)
	c := f.browser()
	if a := c.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/2fa" {
		t.Fatalf("POST /login → %q", a.location)
	}
	statuses := []int{}
	for range 5 {
		statuses = append(statuses, c.post("/login/2fa", url.Values{"code": {"000000"}}).status)
	}
	a = c.post("/login/2fa", url.Values{"code": {codeAt(t, secret, f.clock.Now())}})
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("the right code after five wrong ones (%v): %d, want 429", statuses, a.status)
	}
}

// TestSessionRotates: the cookie set before sign-in (a planted one, or
// the half-way session's) is not the one after it, and the old one opens
// nothing.
func TestSessionRotates(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrolled(staffAddr)
	b := e.browser()
	b.setCookie("planted-by-someone-else")
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/2fa" {
		t.Fatalf("POST /login → %q", a.location)
	}
	halfway := b.cookie()
	if halfway == "" || halfway == "planted-by-someone-else" {
		t.Fatalf("cookie after the password: %q", halfway)
	}
	if a := b.post("/login/2fa", url.Values{"code": {codeAt(t, secret, e.clock.Now())}}); a.location != "/" {
		t.Fatalf("POST /login/2fa → %q", a.location)
	}
	after := b.cookie()
	if after == "" || after == halfway {
		t.Fatalf("the cookie after sign-in is the one from before it (%q)", after)
	}
	thief := e.browser()
	thief.setCookie(halfway)
	if a := thief.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Errorf("the half-way cookie after sign-in: %d → %q, want 303 to /login", a.status, a.location)
	}
	if a := thief.get("/login/2fa"); a.location != "/login" {
		t.Errorf("the half-way cookie still reaches the second factor: → %q", a.location)
	}
	if a := b.get("/"); a.status != 200 {
		t.Errorf("the new cookie: %d", a.status)
	}
	// Only the cookie's hash is stored: its value is nowhere in the store.
	e.v.View(tables, func(tx vault.Tx) error {
		return tx.Table(tableSessions).Scan(nil, func(k, v []byte) error {
			if strings.Contains(string(k)+string(v), after) {
				t.Error("the cookie's value is stored")
			}
			return nil
		})
	})
}

// TestCrossSitePOST: a form posted from another site is refused and does
// nothing; the same form from the page's own origin goes through.
func TestCrossSitePOST(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest("POST", e.srv.URL+"/account/app-passwords", strings.NewReader("name=phone"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if a := b.do(req); a.status != http.StatusForbidden {
			t.Errorf("cross-site POST with %v: %d, want 403", h, a.status)
		}
	}
	if ps, _ := e.v.AppPasswords(staffAddr); len(ps) != 0 {
		t.Fatalf("a cross-site POST made app passwords: %v", ps)
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	if a := b.do(req); a.status != http.StatusForbidden {
		t.Errorf("cross-site sign-out: %d, want 403", a.status)
	}
	if a := b.post("/account/app-passwords", url.Values{"name": {"phone"}}); a.status != 200 {
		t.Errorf("same-origin POST: %d", a.status)
	}
}

// TestDisabledAccountSessionEnds: disabling an account (as `sigill user
// disable` does) ends its open session at the next request, and it cannot
// sign in again.
func TestDisabledAccountSessionEnds(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	if err := e.v.SetDisabled(staffAddr, true); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/account"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET /account after disabling: %d → %q", a.status, a.location)
	}
	if err := e.v.SetDisabled(staffAddr, false); err != nil {
		t.Fatal(err)
	}
	if a := b.get("/account"); a.status != http.StatusSeeOther {
		t.Fatalf("the session came back with the account: %d", a.status)
	}
	e.v.SetDisabled(staffAddr, true)
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.status != http.StatusForbidden || !strings.Contains(a.body, "avstängt") {
		t.Fatalf("signing in to a disabled account: %d", a.status)
	}
	// Removed and made anew under the same address: the old session does
	// not open the new account.
	c := e.browser()
	c.signIn(adminAddr, nil)
	e.v.RemoveAccount(adminAddr)
	e.clock.Advance(time.Second)
	e.v.AddAdmin(adminAddr, staffPassword)
	if a := c.get("/"); a.status != http.StatusSeeOther {
		t.Fatalf("a session of a removed account opens its namesake: %d", a.status)
	}
}

// TestSessionTimeouts: a session ends after SessionIdle without a request
// and after SessionMax however busy; a request now and then keeps it.
func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionIdle, o.SessionMax = 10*time.Minute, time.Hour })
	b := e.browser()
	b.signIn(staffAddr, nil)
	for range 5 { // 45 minutes of work, a request every 9
		e.clock.Advance(9 * time.Minute)
		if a := b.get("/"); a.status != 200 {
			t.Fatalf("a busy session ended before its time: %d", a.status)
		}
	}
	e.clock.Advance(10 * time.Minute)
	if a := b.get("/"); a.status != http.StatusSeeOther {
		t.Fatalf("the session outlived 10 idle minutes: %d", a.status)
	}

	b.signIn(staffAddr, nil)
	for i := range 7 {
		e.clock.Advance(9 * time.Minute)
		a := b.get("/")
		if i < 6 && a.status != 200 {
			t.Fatalf("request %d: %d", i, a.status)
		}
		if i == 6 && a.status != http.StatusSeeOther { // 63 minutes after sign-in
			t.Fatalf("the session outlived its hour: %d", a.status)
		}
	}
}

// TestSessionSurvivesRestart: sessions are in the store, not the
// process.
func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	e.restart()
	if a := b.get("/"); a.status != 200 || !strings.Contains(a.body, staffAddr) {
		t.Fatalf("after a restart: %d", a.status)
	}
}

// TestRequire2FAEnrolment: under staff.require_2fa an account without a
// second factor goes from its password to enrolment and nowhere else; a
// wrong code does not enrol; a right one does, shows the recovery codes,
// and signs in with a new session id.
func TestRequire2FAEnrolment(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Require2FA = true })
	b := e.browser()
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}}); a.location != "/login/enrol" {
		t.Fatalf("POST /login → %q, want /login/enrol", a.location)
	}
	if a := b.get("/account"); a.location != "/login/enrol" {
		t.Fatalf("GET /account before enrolling → %q", a.location)
	}
	a := b.post("/login/enrol", nil)
	m := reSecret.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil || !strings.Contains(a.body, "<svg") {
		t.Fatalf("POST /login/enrol: %d, no QR code or secret", a.status)
	}
	secret := m[1]
	wrong := codeAt(t, secret, e.clock.Now().Add(-5*time.Minute))
	if a := b.post("/login/enrol/confirm", url.Values{"code": {wrong}}); a.status != http.StatusUnauthorized || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("a wrong code at enrolment: %d", a.status)
	}
	if acct, _ := e.v.Account(staffAddr); acct.SecondFactor != "" {
		t.Fatal("a wrong code enrolled TOTP")
	}
	if a := b.get("/"); a.location != "/login/enrol" {
		t.Fatalf("after a wrong code GET / → %q", a.location)
	}
	before := b.cookie()
	a = b.post("/login/enrol/confirm", url.Values{"code": {codeAt(t, secret, e.clock.Now())}})
	if a.status != 200 || strings.Count(a.body, "<li>") < 10 {
		t.Fatalf("confirming: %d, recovery codes not shown", a.status)
	}
	if b.cookie() == before {
		t.Error("enrolment at sign-in kept the session id")
	}
	if acct, _ := e.v.Account(staffAddr); acct.SecondFactor != "totp" || acct.RecoveryCodes != 10 {
		t.Fatalf("after enrolment: %+v", acct)
	}
	if a := b.get("/"); a.status != 200 {
		t.Fatalf("GET / after enrolment: %d", a.status)
	}
}

// TestPagesHeaders: every page carries the strict CSP and no-store, and
// the language follows ?lang= and stays.
func TestPagesHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	a := b.get("/login?lang=en")
	if !strings.Contains(a.header.Get("Content-Security-Policy"), "default-src 'none'") || a.header.Get("Cache-Control") != "no-store" || a.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", a.header)
	}
	if !strings.Contains(a.body, `<html lang="en">`) || !strings.Contains(a.body, "Sign in") {
		t.Errorf("?lang=en: not English")
	}
	if a := b.get("/login"); !strings.Contains(a.body, `<html lang="en">`) {
		t.Errorf("the language did not stay")
	}
	if a := b.get("/nowhere"); a.status != http.StatusNotFound {
		t.Errorf("GET /nowhere: %d", a.status)
	}
}

// TestTextsComplete: both languages have every text.
func TestTextsComplete(t *testing.T) {
	for k := range textsSV {
		if textsEN[k] == "" {
			t.Errorf("%s has no English", k)
		}
	}
	for k := range textsEN {
		if textsSV[k] == "" {
			t.Errorf("%s has no Swedish", k)
		}
	}
}

// TestSweep: run-out sessions leave the store, whether anyone comes back
// or not; live ones stay.
func TestSweep(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionIdle = 10 * time.Minute })
	old, fresh := e.browser(), e.browser()
	old.signIn(staffAddr, nil)
	e.clock.Advance(8 * time.Minute)
	fresh.signIn(adminAddr, nil)
	e.clock.Advance(3 * time.Minute)
	n, err := e.web.sweep(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want the one idle session", n, err)
	}
	count := 0
	e.v.View(tables, func(tx vault.Tx) error {
		return tx.Table(tableByAccount).Scan(nil, func(k, _ []byte) error {
			count++
			if strings.HasPrefix(string(k), staffAddr) {
				t.Error("the swept session's index entry stayed")
			}
			return nil
		})
	})
	if count != 1 {
		t.Errorf("%d index entries, want the live one", count)
	}
	if a := fresh.get("/"); a.status != 200 {
		t.Errorf("the live session: %d", a.status)
	}
}

// TestCookieOverHTTPS: with Options.Secure the session cookie is
// __Host-sigill-staff, Secure, HttpOnly, SameSite=Lax, Path=/ and has no
// Domain; pages send HSTS.
func TestCookieOverHTTPS(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Secure = true })
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"username": {staffAddr}, "password": {staffPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a := e.browser().do(req)
	set := a.header.Get("Set-Cookie")
	for _, want := range []string{"__Host-sigill-staff=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(set, "Domain") || a.header.Get("Strict-Transport-Security") == "" {
		t.Errorf("Set-Cookie %q has a Domain, or no HSTS", set)
	}
}

// TestSignInsInTheAuditTrail: a wrong password, a wrong code and the
// sign-in that follows are in the audit trail, with the browser's
// address and user agent.
func TestSignInsInTheAuditTrail(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrolled(staffAddr)
	b := e.browser()
	b.post("/login", url.Values{"username": {staffAddr}, "password": {"wrong password!"}})
	b.post("/login", url.Values{"username": {staffAddr}, "password": {staffPassword}})
	b.post("/login/2fa", url.Values{"code": {"000000"}})
	if a := b.post("/login/2fa", url.Values{"code": {codeAt(t, secret, e.clock.Now())}}); a.location != "/" {
		t.Fatalf("the right code: %d → %q", a.status, a.location)
	}
	entries, err := e.trail.Export(context.Background(), audit.Filter{}, "cli:test")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		if en.Source == "staff" && strings.HasPrefix(en.Detail, "staff web: ") {
			if en.IP != "127.0.0.1" || en.UserAgent != "Go-http-client/1.1" || en.Actor != staffAddr {
				t.Errorf("a record without the account, address or user agent: %+v", en)
			}
			got = append(got, en.Action+" "+en.Detail)
		}
	}
	want := []string{
		audit.ActionSignInFailed + " staff web: password: BadLogin",
		audit.ActionSignInFailed + " staff web: second factor: BadCode",
		audit.ActionSignIn + " staff web: password and TOTP",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the trail holds\n%q\nwant\n%q", got, want)
	}
}
