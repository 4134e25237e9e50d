package staffweb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"sigill/internal/testenv"
)

// TestReflowAndKeyboard in headless Chromium: at 320 CSS pixels wide
// (WCAG 1.4.10) no page of sign-in, account, staff accounts, the send form
// (with its faults), the sent log or a message scrolls
// sideways; sign-in is done with the keyboard alone (Tab to each field,
// Enter to send), and a focused field draws the focus outline.
// Screenshots are kept in SIGILL_SCREENSHOTS when set, else in the test's
// temporary folder.
func TestReflowAndKeyboard(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "chromium")
	e := newEnv(t, withSending)
	e.enrolled(adminAddr) // the accounts page then shows every kind of row
	shots := os.Getenv("SIGILL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()))...)
	defer cancel()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab, 30*time.Second)
		defer cancel()
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(filepath.Join(shots, name), png, 0o644)
		}
	}
	sideways := func(page string) {
		t.Helper()
		shot(page + "-320.png")
		if w := eval(`String(document.documentElement.scrollWidth)`); w != "320" {
			t.Errorf("%s at 320 px is %s px wide: it scrolls sideways (screenshot in %s)", page, w, shots)
		}
	}

	do("login page", chromedp.EmulateViewport(320, 640), chromedp.Navigate(e.srv.URL+"/login"), chromedp.WaitVisible("#username"))
	sideways("login")
	// Keyboard only: the e-mail field has focus; Tab moves to the password.
	if got := eval(`document.activeElement.id`); got != "username" {
		t.Errorf("the sign-in page starts with focus on %q, want the e-mail field", got)
	}
	do("type", chromedp.KeyEvent(adminAddr), chromedp.KeyEvent("\t"))
	if got := eval(`document.activeElement.id`); got != "password" {
		t.Fatalf("Tab from the e-mail field lands on %q", got)
	}
	if got := eval(`getComputedStyle(document.activeElement).outlineStyle + " " + getComputedStyle(document.activeElement).outlineWidth`); got != "solid 3px" {
		t.Errorf("the focused field's outline is %q, want solid 3px", got)
	}
	do("sign in", chromedp.KeyEvent(staffPassword+"\r"), chromedp.WaitVisible("#code"))
	sideways("login2fa")
	secret := totpSecret(t, e, adminAddr)
	do("code", chromedp.SendKeys("#code", codeAt(t, secret, e.clock.Now())+"\r"), chromedp.WaitVisible(".nav"))
	sideways("home")

	do("account", chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible("#app_name"))
	do("app password", chromedp.SendKeys("#app_name", "Outlook på arbetsdatorn, den bärbara i rum 4711\r"), chromedp.WaitVisible("#secret"))
	sideways("app-password")
	do("account again", chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible("#app-passwords"))
	sideways("account")
	do("accounts", chromedp.Navigate(e.srv.URL+"/admin/accounts"), chromedp.WaitVisible("#accounts"))
	sideways("accounts")
	do("send form with faults", chromedp.Navigate(e.srv.URL+"/send"), chromedp.WaitVisible("#recipients"),
		chromedp.SetValue("#recipients", "0701234567 199908072392\nanna.svensson.med.ett.langt.namn@exempelkommunen.example.com 19990807-2391"),
		chromedp.SendKeys("#subject", "Svar 19990807-2391"), chromedp.Submit("#subject"), chromedp.WaitVisible("#faults"))
	sideways("send-faults")
	do("send", chromedp.SetValue("#recipients", "0701234567 199908072391\nanna.svensson.med.ett.langt.namn@exempelkommunen.example.com 19990807-2391"),
		chromedp.SetValue("#subject", "Provsvar"), chromedp.SetValue("#body", "Hej!"), chromedp.Submit("#subject"), chromedp.WaitVisible("#recipient-1"))
	sideways("message")
	do("sent log", chromedp.Navigate(e.srv.URL+"/messages"), chromedp.WaitVisible("#sent-log"))
	sideways("messages")
	do("desktop", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(e.srv.URL+"/account"), chromedp.WaitVisible("#app-passwords"))
	shot("account-1280.png")
}

// totpSecret is not readable from the vault (it is sealed); the env keeps
// the secrets it enrolled.
func totpSecret(t *testing.T, e *env, address string) string {
	t.Helper()
	s, ok := e.secrets[address]
	if !ok {
		t.Fatalf("no TOTP secret enrolled for %s", address)
	}
	return s
}
