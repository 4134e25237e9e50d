package main

import (
	"context"
	"crypto/rand"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"sigill/config"
	"sigill/internal/testenv"
)

// The clerk's path in the staff web of the built `sigill dev`, in headless
// Chromium: sign in with the password and a TOTP code (enrolled with
// `sigill user 2fa`), send to an SMS and an e-mail recipient with an
// attachment from the form, open the SMS link as the recipient through the
// BankID simulator, and watch the sent log turn from "not read" to "opened
// by Test Testsson 19990807-****"; withdraw the e-mail recipient, whose link
// then says the message was withdrawn. The message's page, left open,
// shows the open by itself (its optional script). On failure each tab is saved at a
// phone's width (360 px) and a desktop's.
func TestStaffWebSendAndReadLogInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "chromium")
	data := t.TempDir()
	d := startDev(t, data)
	staffURL := "http://" + d.addr(config.DevStaffPort)

	stdout, stderr, code := run(t, "", "user", "-data", data, "2fa", config.DevAccount)
	secret := regexp.MustCompile(`(?m)^Secret: ([A-Z2-7]+)$`).FindStringSubmatch(stdout)
	if code != 0 || secret == nil {
		t.Fatalf("sigill user 2fa: exit %d, %s %s", code, stdout, stderr)
	}
	attachment := filepath.Join(t.TempDir(), "provsvar.txt")
	if err := os.WriteFile(attachment, []byte("Bilagans innehåll"), 0o644); err != nil {
		t.Fatal(err)
	}
	canary := "kanariefågel-" + rand.Text()

	browser := startChromium(t, chromium)
	staff := newTab(t, browser)
	reader := newTab(t, browser)
	screenshotsOnFailure(t, map[string]context.Context{"staff": staff, "reader": reader})

	// Sign in: the password, then the code. `user 2fa` used the current
	// step's code to confirm the enrolment, and a code counts once: the
	// next step's, within the ±1 step taken, is still unused.
	do(t, staff, "sign-in page",
		chromedp.Navigate(staffURL+"/login?lang=en"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, config.DevAccount),
		chromedp.SendKeys(`#password`, devPassword),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`input[name=code]`))
	code6, err := totp.GenerateCode(secret[1], time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	do(t, staff, "second factor",
		chromedp.SendKeys(`input[name=code]`, code6),
		chromedp.Submit(`input[name=code]`),
		chromedp.WaitVisible(`nav a[href="/send"]`))

	// Send from the form: an SMS and an e-mail recipient, one attachment.
	do(t, staff, "send form",
		chromedp.Navigate(staffURL+"/send"),
		chromedp.WaitVisible(`#recipients`),
		chromedp.SetValue(`#recipients`, "0701234567 199908072391\nanna.svensson@example.com 199908072391"),
		chromedp.SendKeys(`#subject`, "Provsvar"),
		chromedp.SetValue(`#body`, "Hej! "+canary),
		chromedp.SetUploadFiles(`#attachment`, []string{attachment}),
		chromedp.Click(`form[action="/send"] button[type=submit]`),
		chromedp.WaitVisible(`#recipient-1`))
	location, err := chromedp.Run(withTimeout(t, staff), chromedp.Location())
	id := regexp.MustCompile(`/messages/([A-Za-z0-9_-]+)$`).FindStringSubmatch(location)
	if err != nil || id == nil {
		t.Fatalf("after sending, the page is %q (%v)", location, err)
	}
	byChannel := notificationsByChannel(t, data, id[1], 2)
	sms, email := byChannel["sms"], byChannel["email"]
	for _, n := range []outboxLine{sms, email} {
		if strings.Contains(n.Text, canary) || !strings.Contains(n.Text, n.Link) || !strings.Contains(n.Text, "Provsvar") {
			t.Errorf("notification %+v: wants the errand and link, not a word of the body", n)
		}
	}
	do(t, staff, "sent log, unread", chromedp.Navigate(staffURL+"/messages"), chromedp.WaitVisible(`#sent-log`))
	if log := pageText(t, staff); strings.Count(log, "Not read") != 2 || strings.Contains(log, "Opened by") {
		t.Errorf("the sent log before any open: %q", log)
	}

	// The message's page stays open in the staff tab while the SMS
	// recipient opens the link through BankID.
	do(t, staff, "message page", chromedp.Navigate(staffURL+"/messages/"+id[1]), chromedp.WaitVisible(`#recipient-0 dd[data-status]`))
	do(t, reader, "landing", chromedp.Navigate(sms.Link), chromedp.WaitVisible("#start"),
		chromedp.Click(`#start form:nth-of-type(2) button`), chromedp.WaitVisible("#qr svg"))
	approveOnPhone(t, browser, d, "199908072391")
	do(t, reader, "message", chromedp.WaitVisible(`//*[contains(text(), "`+canary+`")]`))
	if page := pageText(t, reader); !strings.Contains(page, "provsvar.txt") {
		t.Errorf("the reader's page does not list the attachment: %q", page)
	}

	// Its script shows the open without a reload (the page itself works
	// without it: every page is also checked without JavaScript, in Python).
	do(t, staff, "live status", chromedp.WaitVisible(`#recipient-0 dd[data-status=opened]`))
	if status, err := chromedp.Run(withTimeout(t, staff), chromedp.Text(`#recipient-0 dd.status`)); err != nil || status != "Opened by Test Testsson 19990807-****" {
		t.Errorf("the live status: %q %v", status, err)
	}

	// The log turns: opened by the simulator's person, number masked.
	do(t, staff, "sent log, opened", chromedp.Navigate(staffURL+"/messages"), chromedp.WaitVisible(`#sent-log`))
	log := pageText(t, staff)
	if !strings.Contains(log, "Opened by Test Testsson 19990807-****") || strings.Count(log, "Not read") != 1 || strings.Contains(log, "199908072391") {
		t.Errorf("the sent log after the open: %q", log)
	}

	// Withdraw the e-mail recipient: its link says so.
	do(t, staff, "withdraw",
		chromedp.Navigate(staffURL+"/messages/"+id[1]),
		chromedp.WaitVisible(`#recipient-1 form button`),
		chromedp.Click(`#recipient-1 form button`),
		chromedp.WaitVisible(`#recipient-1 dd[data-status=revoked]`))
	do(t, reader, "withdrawn link", chromedp.Navigate(email.Link), chromedp.WaitVisible(`h1`))
	if page := pageText(t, reader); !strings.Contains(page, "withdrawn") && !strings.Contains(page, "dragits tillbaka") || strings.Contains(page, canary) {
		t.Errorf("the withdrawn link's page: %q", page)
	}
	do(t, staff, "sent log, withdrawn", chromedp.Navigate(staffURL+"/messages"), chromedp.WaitVisible(`#sent-log`))
	if log := pageText(t, staff); !strings.Contains(log, "Withdrawn") || !strings.Contains(log, "Opened by Test Testsson 19990807-****") {
		t.Errorf("the sent log after withdrawing: %q", log)
	}
}

// notificationsByChannel waits for message id's n notifications and
// returns them by channel.
func notificationsByChannel(t *testing.T, data, id string, n int) map[string]outboxLine {
	t.Helper()
	out := map[string]outboxLine{}
	for _, l := range waitForNotifications(t, data, id, n) {
		out[l.Channel] = l
	}
	return out
}

func withTimeout(t *testing.T, ctx context.Context) context.Context {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// screenshotsOnFailure saves each tab, when the test has failed, at a
// phone's width (360 px) and a desktop's, in the test's artifact folder
// with go test -artifacts, else in a new folder under the temporary one
// (kept: a failure's pictures must outlive the test), and logs where.
func screenshotsOnFailure(t *testing.T, tabs map[string]context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir := ""
		if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
			dir = t.ArtifactDir()
		} else if tmp, err := os.MkdirTemp("", "sigill-staffweb-screenshots-"); err == nil {
			dir = tmp
		} else {
			t.Logf("no folder for screenshots: %v", err)
			return
		}
		for name, tab := range tabs {
			for _, size := range []struct {
				label         string
				width, height int64
			}{{"phone-360", 360, 780}, {"desktop", 1280, 900}} {
				ctx, cancel := context.WithTimeout(tab, 20*time.Second)
				err := chromedp.Do(ctx, chromedp.EmulateViewport(size.width, size.height))
				var png []byte
				if err == nil {
					png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
				}
				cancel()
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, name+"-"+size.label+".png"), png, 0o644)
				}
				if err != nil {
					t.Logf("screenshot of %s at %s: %v", name, size.label, err)
				}
			}
		}
		t.Logf("screenshots of the failed test in %s", dir)
	})
}
