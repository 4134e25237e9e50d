package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-sasl"

	"sigill/config"
	"sigill/internal/testenv"
	"sigill/vault"
)

// The whole path as people meet it: staff send with an SMTP client, the
// notification lands in outbox.jsonl, the recipient opens the link in
// Chromium, signs in through BankID (the simulator's phone page, in a second
// tab), reads the message and answers it from the page's form; someone not
// allowed sees a refusal.
func TestEndToEndInChromium(t *testing.T) {
	chromium := testenv.Tool(t, "chromium", "chromium")
	data := t.TempDir()
	shots := os.Getenv("SIGILL_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	d := startDev(t, data)

	canary := "kanariefågel-" + rand.Text()
	allowedID := submitForE2E(t, d, "0701234567&login=199908072391&@secure.test", "Provsvar", canary)
	refusedID := submitForE2E(t, d, "0701234568&login=198611239883&login=200211242383&lang=en&@secure.test", "Remissvar", canary)
	allowed := waitForNotification(t, data, allowedID)
	refused := waitForNotification(t, data, refusedID)
	for _, n := range []outboxLine{allowed, refused} {
		if strings.Contains(n.Text, canary) || !strings.Contains(n.Text, n.Link) {
			t.Errorf("notification %+v: wants the link and not a word of the body", n)
		}
	}

	browser := startChromium(t, chromium)
	reader := newTab(t, browser)

	// Landing page: the errand, nothing secret; then "on another device" gives a QR code.
	do(t, reader, "landing", chromedp.Navigate(allowed.Link), chromedp.WaitVisible("#start"))
	landing := pageText(t, reader)
	shot(t, reader, shots, "landing.png")
	if !strings.Contains(landing, "Provsvar") || strings.Contains(landing, canary) {
		t.Errorf("landing page text %q: want the errand and not the body", landing)
	}
	do(t, reader, "qr", chromedp.Click(`#start form:nth-of-type(2) button`), chromedp.WaitVisible("#qr svg"))
	shot(t, reader, shots, "qr.png")

	// The recipient's phone approves; the reader's page turns into the message.
	approveOnPhone(t, browser, d, "199908072391")
	do(t, reader, "message", chromedp.WaitVisible(`//*[contains(text(), "`+canary+`")]`))
	shot(t, reader, shots, "message.png")
	if body := pageText(t, reader); !strings.Contains(body, canary) {
		t.Errorf("the opened message does not show its body: %q", body)
	}

	// The recipient answers from the page's form, and sees the answer listed.
	answer := "Tack, jag kommer på tisdag " + rand.Text()[:6]
	do(t, reader, "reply",
		chromedp.SendKeys("#reply-text", answer),
		chromedp.Submit("#reply-text"),
		chromedp.WaitVisible(`//section[@id="replies"]//*[contains(text(), "`+answer+`")]`))
	shot(t, reader, shots, "replied.png")

	// Someone who is not among the allowed logins is refused.
	other := newTab(t, browser)
	do(t, other, "refused landing",
		chromedp.Navigate(refused.Link),
		chromedp.WaitVisible("#start"),
		chromedp.Click(`#start form:nth-of-type(2) button`),
		chromedp.WaitVisible("#qr svg"))
	approveOnPhone(t, browser, d, "199908072391")
	do(t, other, "refusal", chromedp.WaitNotPresent("#qr svg"), chromedp.Sleep(500*time.Millisecond))
	shot(t, other, shots, "refusal.png")
	if refusal := pageText(t, other); strings.Contains(refusal, canary) || !strings.Contains(strings.ToLower(refusal), "not") {
		t.Errorf("refusal page %q: want a plain refusal and no content", refusal)
	}
	t.Logf("screenshots in %s; the refusal page said %q", shots, pageText(t, other))

	d.stop(t)
	v, err := vault.Open(vault.Options{Path: filepath.Join(data, "sigill.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	wantEvent(t, v, allowedID, vault.EventOpened, "199908072391")
	wantEvent(t, v, allowedID, vault.EventReplied, "199908072391")
	wantEvent(t, v, refusedID, vault.EventDenied, "199908072391")
}

func submitForE2E(t *testing.T, d *devInstance, rcpt, subject, body string) string {
	t.Helper()
	msg := "From: <" + config.DevAccount + ">\r\nTo: <" + rcpt + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + rand.Text() + "@staff.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! " + body + "\r\n"
	id, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, rcpt, msg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type outboxLine struct {
	Channel, To, Text, Link string
	MessageID               string `json:"message_id"`
}

// waitForNotification polls outbox.jsonl for the message's line.
func waitForNotification(t *testing.T, data, id string) outboxLine {
	t.Helper()
	return waitForNotifications(t, data, id, 1)[0]
}

// waitForNotifications polls outbox.jsonl for n lines of the message.
func waitForNotifications(t *testing.T, data, id string, n int) []outboxLine {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if lines := notificationsIn(data, id); len(lines) >= n {
			return lines
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not %d notifications for %s in outbox.jsonl", n, id)
	return nil
}

// notificationsIn is the message's lines in the outbox.jsonl of a data
// folder, so far.
func notificationsIn(data, id string) []outboxLine {
	f, err := os.Open(filepath.Join(data, "outbox.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []outboxLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line outboxLine
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.MessageID == id {
			lines = append(lines, line)
		}
	}
	return lines
}

func startChromium(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844), // a phone
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first Do binds the browser's life to its context: no timeout here.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return browser
}

// approveOnPhone uses the simulator's phone page, in its own tab, to approve
// the one pending order as personalNumber.
func approveOnPhone(t *testing.T, browser context.Context, d *devInstance, personalNumber string) {
	t.Helper()
	phone := newTab(t, browser)
	defer chromedp.Cancel(phone)
	field := `section form[action="/dev/bankid/approve"] input[name=personalNumber]`
	do(t, phone, "phone",
		chromedp.Navigate("http://"+d.addr(config.DevReaderPort)+"/dev/bankid"),
		chromedp.WaitVisible(field),
		chromedp.SendKeys(field, personalNumber),
		chromedp.Submit(field),
		chromedp.WaitVisible(`p[role=status]`))
}

// newTab opens a tab. Its first Do binds the tab's life to the context it
// is given, so that one carries no timeout; later steps each get their own.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

func do(t *testing.T, ctx context.Context, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// pageText is what a person sees on the page (innerText: hidden parts left out).
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
	if err != nil {
		t.Fatalf("page text: %v", err)
	}
	return s
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
}

func wantEvent(t *testing.T, v *vault.Vault, id string, kind vault.EventKind, personalNumber string) {
	t.Helper()
	events, err := v.Events(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Kind == kind && e.PersonalNumber == personalNumber {
			return
		}
	}
	t.Errorf("message %s: no %s event by %s in %+v", id, kind, personalNumber, events)
}
