package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"sigill/config"
	"sigill/internal/testenv"
	"sigill/passkey"
	"sigill/passkey/passkeytest"
)

// virtualAuthenticator gives the tab Chromium's virtual authenticator: a
// platform authenticator (CTAP2, internal transport) that keeps
// discoverable credentials and verifies its user at once, as a laptop's
// fingerprint reader would.
func virtualAuthenticator(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
	if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		return chromedp.Void{}, err
	}
	_, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}})
	return chromedp.Void{}, err
}

// TestPasskeyInChromium runs the passkeys against the built `sigill dev`
// in headless Chromium with its virtual authenticator: the dev account
// (TOTP enrolled from the CLI) signs in with password and code, adds a
// passkey on the account page, signs out, and signs in with the passkey
// alone. The staff web is at http://localhost:PORT, staff.url in dev:
// WebAuthn takes no IP address for the site.
func TestPasskeyInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "chromium")
	shots := os.Getenv("SIGILL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	d := startDev(t, t.TempDir())
	base := "http://localhost:" + strings.TrimPrefix(d.addr(config.DevStaffPort), "127.0.0.1:")

	enrolled, _, code := run(t, "", "user", "-data", d.data, "2fa", config.DevAccount)
	secret := regexp.MustCompile(`(?m)^Secret: ([A-Z2-7]+)$`).FindStringSubmatch(enrolled)
	if code != 0 || secret == nil {
		t.Fatalf("user 2fa: exit %d\n%s", code, enrolled)
	}
	// The enrolling code's step is used: the next step's code (a code is
	// taken within one step either side).
	totpCode, err := totp.GenerateCode(secret[1], time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	browser := startChromium(t, chromium)
	tab := newTab(t, browser)
	failed := true
	defer func() {
		if failed {
			shot(t, tab, shots, "passkey-failure.png")
			t.Logf("screenshot in %s; page text: %q", shots, pageText(t, tab))
		}
	}()
	do(t, tab, "virtual authenticator", virtualAuthenticator)

	do(t, tab, "password",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#username"),
		chromedp.SendKeys("#username", config.DevAccount),
		chromedp.SendKeys("#password", devPassword),
		chromedp.Submit("#password"),
		chromedp.WaitVisible("#code"))
	do(t, tab, "TOTP code",
		chromedp.SendKeys("#code", totpCode),
		chromedp.Submit("#code"),
		chromedp.WaitVisible(".who"))

	do(t, tab, "add a passkey",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible("#passkey-add"),
		chromedp.SendKeys("#passkey_name", "Chromium"),
		chromedp.Click("#passkey-add button[type=submit]"),
		chromedp.WaitVisible(`//table[@id="passkeys"]//td[text()="Chromium"]`))
	shot(t, tab, shots, "passkey-added.png")

	do(t, tab, "sign out",
		chromedp.Click(`form[action="/logout"] button`),
		chromedp.WaitVisible("#passkey-signin button"))
	if text := pageText(t, tab); strings.Contains(text, config.DevAccount) {
		t.Fatalf("still signed in after signing out: %q", text)
	}
	do(t, tab, "sign in with the passkey",
		chromedp.Click("#passkey-signin button"),
		chromedp.WaitVisible(".who"))
	shot(t, tab, shots, "passkey-signed-in.png")
	if text := pageText(t, tab); !strings.Contains(text, "Inloggad som "+config.DevAccount) {
		t.Errorf("after the passkey the page says %q; want it signed in as %s", text, config.DevAccount)
	}
	failed = t.Failed()
}

// staffClient is a browser without script for the running `sigill dev`'s
// staff web: a cookie jar, redirects not followed, forms posted from the
// page's own origin, and the passkey ceremonies done by a software
// authenticator (passkeytest) for the site staff.url names.
type staffClient struct {
	t    *testing.T
	base string // where it connects: http://127.0.0.1:PORT
	site string // staff.url: http://localhost:PORT
	c    *http.Client
}

func newStaffClient(t *testing.T, d *devInstance) *staffClient {
	jar, _ := cookiejar.New(nil)
	return &staffClient{t: t, base: "http://" + d.addr(config.DevStaffPort),
		site: "http://localhost:" + strings.TrimPrefix(d.addr(config.DevStaffPort), "127.0.0.1:"),
		c:    &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *staffClient) post(path string, form url.Values) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// ceremony runs one passkey ceremony: begin, the authenticator's answer,
// finish with form; it returns finish's status.
func (s *staffClient) ceremony(path string, answer func([]byte) ([]byte, error), form url.Values) int {
	s.t.Helper()
	status, body := s.post(path+"/begin", nil)
	var begun struct {
		Ceremony string          `json:"ceremony"`
		Options  json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal([]byte(body), &begun); status != http.StatusOK || err != nil {
		s.t.Fatalf("POST %s/begin: %d %s", path, status, body)
	}
	cred, err := answer(begun.Options)
	if err != nil {
		s.t.Fatal(err)
	}
	form.Set("ceremony", begun.Ceremony)
	form.Set("credential", string(cred))
	status, _ = s.post(path, form)
	return status
}

// `sigill user 2fa ADDRESS reset` takes the passkeys with TOTP, through
// the running daemon's admin listener and on the vault file alike
// (passkey.ResetSecondFactor behind both), and ends the account's staff
// web sessions.
func TestSecondFactorResetTakesPasskeys(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	anna := newStaffClient(t, d)
	if status, body := anna.post("/login", url.Values{"username": {config.DevAccount}, "password": {devPassword}}); status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	key := passkeytest.New("localhost", anna.site)
	if status := anna.ceremony("/account/passkeys", key.Create, url.Values{"name": {"Nyckel"}}); status != http.StatusSeeOther {
		t.Fatalf("adding a passkey: %d", status)
	}
	if status := newStaffClient(t, d).ceremony("/login/passkey", key.Get, url.Values{}); status != http.StatusSeeOther {
		t.Fatalf("the passkey does not sign in before the reset: %d", status)
	}
	if out, stderr, code := run(t, "", "user", "-data", data, "2fa", "-reset", config.DevAccount); code != 0 || !strings.Contains(out, "passkeys") {
		t.Fatalf("2fa -reset through the daemon: exit %d %s %s", code, out, stderr)
	}
	if status := newStaffClient(t, d).ceremony("/login/passkey", key.Get, url.Values{}); status != http.StatusUnauthorized {
		t.Errorf("the passkey after 2fa -reset through the daemon: %d, want 401", status)
	}
	// The reset ended anna's web session too, as it ends her SMTP and IMAP
	// sessions: she signs in again.
	if status, _ := anna.post("/account/passkeys/begin", url.Values{}); status != http.StatusSeeOther {
		t.Errorf("anna's session after 2fa -reset through the daemon: %d, want 303 to the sign-in", status)
	}
	if status, body := anna.post("/login", url.Values{"username": {config.DevAccount}, "password": {devPassword}}); status != http.StatusSeeOther {
		t.Fatalf("sign-in after the reset: %d %s", status, body)
	}

	again := passkeytest.New("localhost", anna.site)
	if status := anna.ceremony("/account/passkeys", again.Create, url.Values{"name": {"Nyckel 2"}}); status != http.StatusSeeOther {
		t.Fatalf("adding a second passkey: %d", status)
	}
	d.stop(t)
	if out, stderr, code := run(t, "", "user", "-data", data, "2fa", config.DevAccount, "reset"); code != 0 {
		t.Fatalf("2fa reset on the file: exit %d %s %s", code, out, stderr)
	}
	v, _, _, _, err := openVault(config.Dev(data, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	svc, err := passkey.New(v, "localhost", "sigill", []string{anna.site})
	if err != nil {
		t.Fatal(err)
	}
	if has, err := svc.Has(config.DevAccount); has || err != nil {
		t.Errorf("a passkey after 2fa reset on the file (%v)", err)
	}
}
