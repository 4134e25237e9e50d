package main

import (
	"context"
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
