package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-sasl"

	"sigill/addressing"
	"sigill/config"
	"sigill/imapd"
	"sigill/internal/testenv"
	"sigill/notifier"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

// The chain of issue 7 through the dev binary: SMTP in → a notification in
// outbox.jsonl → the link opened with BankID through the reader's JSON
// endpoints and the simulator → an MDN in the sender's IMAP INBOX whose
// Original-Message-ID is the Message-ID of the mail that was sent.
func TestChainOpenedGivesMDNInIMAP(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	const messageID = "chain-1@staff.test"
	body := "Hej! Ditt provsvar är klart: värdet är 4,2."
	msg := "From: <" + config.DevAccount + ">\r\nTo: <" + devRcpt + ">\r\nSubject: Provsvar\r\nMessage-ID: <" +
		messageID + ">\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
	id, err := sendDev(d.addr(config.DevSubmissionPort), sasl.NewLoginClient(config.DevAccount, devPassword), config.DevAccount, devRcpt, msg)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	note := waitForNotification(t, data, id)
	t.Logf("the notification was in outbox.jsonl %v after the 250", time.Since(sent).Round(time.Millisecond))
	if !strings.Contains(note.Text, "Provsvar") || !strings.Contains(note.Text, note.Link) || strings.Contains(note.Text, "4,2") {
		t.Errorf("notification text %q: wants the errand and the link, and no word of the body", note.Text)
	}

	// The recipient's side, as the page's script does it.
	web, autoStartToken := signInByLink(t, d, note.Link, "199908072391")
	var opened struct{ Errand, Text string }
	getJSON(t, web, "GET", note.Link+"/message.json", &opened)
	if opened.Errand != "Provsvar" || !strings.Contains(opened.Text, body) {
		t.Errorf("message.json %+v; want the errand and the body", opened)
	}

	// The sender's side: the MDN arrives in INBOX.
	mdn := waitForReceipt(t, d.addr(config.DevIMAPPort), config.DevAccount, devPassword)
	report := reportPart(t, mdn, "message/disposition-notification")
	for _, want := range []string{"Original-Message-ID: <" + messageID + ">", "displayed", "Final-Recipient:"} {
		if !strings.Contains(report, want) {
			t.Errorf("the MDN's report part lacks %q:\n%s", want, report)
		}
	}

	// After the whole chain, the log holds none of the secrets it passed.
	d.stop(t)
	token := note.Link[strings.LastIndex(note.Link, "/")+1:]
	for what, secret := range map[string]string{
		"the link token": token, "the body": "4,2", "the password": devPassword,
		"the whole personal number": "199908072391", "the dashed personal number": "19990807-2391",
		"the BankID autoStartToken": autoStartToken,
	} {
		if strings.Contains(d.stderr.String(), secret) {
			t.Errorf("the log holds %s", what)
		}
	}
	if !strings.Contains(d.stderr.String(), "19990807-****") {
		t.Errorf("the log does not record the opening with a masked number:\n%s", d.stderr)
	}
}

// signInByLink identifies as personalNumber on a link's page through the
// reader's JSON endpoints and the dev simulator's phone, as the page's
// script and a person would, and returns the browser, now allowed to read,
// and the order's autoStartToken.
func signInByLink(t *testing.T, d *devInstance, link, personalNumber string) (*http.Client, string) {
	t.Helper()
	web, started, status := signInAtReader(t, d, link, personalNumber)
	if status != "complete" {
		t.Fatalf("BankID status %q", status)
	}
	return web, started.AutoStartToken
}

// The failure branch of the chain, in process with a clock the test turns:
// the SMS provider refuses every attempt; past notifier.max_age the
// recipient is marked failed and the sender's INBOX gets a DSN saying so.
func TestChainGivingUpGivesDSNInIMAP(t *testing.T) {
	boxes := mailbox.New(mailbox.Options{})
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{boxes.Hook(), notifier.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	boxes.Attach(v)
	const staff, password = "anna@staff.test", "a long test password"
	if err := v.AddAccount(staff, password); err != nil {
		t.Fatal(err)
	}
	r, err := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}.Parse(devRcpt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Accept(context.Background(), vault.Incoming{
		Sender: staff, Account: staff, Errand: "Provsvar", MessageID: "chain-2@staff.test",
		Raw:        []byte("Subject: Provsvar\r\nMessage-ID: <chain-2@staff.test>\r\n\r\nHej!\r\n"),
		Recipients: []vault.Recipient{{Address: devRcpt, Recipient: r}},
	}); err != nil {
		t.Fatal(err)
	}

	clock := testenv.NewClock(time.Now())
	refusing := &refusingProvider{}
	// The recipient is SMS; the smarthost is configured as in serve but never called.
	smarthost, err := notifier.NewSMTPSender(notifier.SMTPOptions{Addr: "127.0.0.1:9", From: "noreply@secure.test"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := notifier.New(notifier.Options{
		Vault: v, Email: smarthost, Workers: 2, MaxAge: time.Hour, LinkBase: "http://127.0.0.1:8080", OrgName: "sigill test",
		SMSSender: "sigill", SMS: refusing, Now: clock.Now, PollEvery: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	// Each turn of the clock brings the next retry due; past an hour the job is given up.
	for i := 0; i < 200 && refusing.count() < 3; i++ {
		clock.Advance(10 * time.Minute)
		time.Sleep(20 * time.Millisecond)
	}
	clock.Advance(2 * time.Hour)

	srv := imapd.New(imapd.Options{Vault: v, Mailboxes: boxes, Org: receipts.Org{Name: "sigill test", Hostname: "localhost"}, InsecureAuth: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	dsn := waitForReceipt(t, ln.Addr().String(), staff, password)
	if refusing.count() < 2 {
		t.Errorf("the provider was asked %d times; want retries before giving up", refusing.count())
	}
	status := reportPart(t, dsn, "message/delivery-status")
	if !strings.Contains(status, "Action: failed") {
		t.Errorf("the DSN does not say Action: failed:\n%s", status)
	}
	if !bytes.Contains(dsn, []byte("In-Reply-To: <chain-2@staff.test>")) {
		t.Errorf("the DSN is not threaded with the sent mail:\n%s", dsn)
	}
}

type refusingProvider struct {
	mu sync.Mutex
	n  int
}

func (p *refusingProvider) Name() string { return "refusing" }
func (p *refusingProvider) Send(context.Context, notifier.SMS) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	return "", errors.New("503 service unavailable")
}
func (p *refusingProvider) count() int { p.mu.Lock(); defer p.mu.Unlock(); return p.n }

// signInAtReader does at a message's link what the reader page's script
// does: it starts a BankID order, has the dev simulator's phone approve it
// as personalNumber, and polls until the order is no longer pending. It
// returns the browser (its cookie holds the session), the order's tokens
// and its last status ("complete" for an allowed person, "denied" for
// another).
func signInAtReader(t *testing.T, d *devInstance, link, personalNumber string) (web *http.Client, started struct{ AutoStartToken, QR string }, status string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	web = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	started, status = signInWith(t, web, link, "http://"+d.addr(config.DevReaderPort)+"/dev/bankid/approve", personalNumber)
	return web, started, status
}

// signInWith is signInAtReader in the browser web, approving at the
// simulator's phone at approveURL.
func signInWith(t *testing.T, web *http.Client, link, approveURL, personalNumber string) (started struct{ AutoStartToken, QR string }, status string) {
	t.Helper()
	getJSON(t, web, "POST", link+"/auth", &started)
	if started.AutoStartToken == "" {
		t.Fatalf("POST /auth gave no autoStartToken: %+v", started)
	}
	approve, _ := json.Marshal(map[string]string{"autoStartToken": started.AutoStartToken, "personalNumber": personalNumber, "name": "Anna Andersson"})
	resp, err := http.Post(approveURL, "application/json", bytes.NewReader(approve))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %v %v", err, resp)
	}
	resp.Body.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st struct{ Status, HintCode, Message string }
		getJSON(t, web, "GET", link+"/auth", &st)
		if st.Status != "pending" {
			return started, st.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("BankID still pending after 15 s: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func getJSON(t *testing.T, c *http.Client, method, url string, into any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, into) != nil {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, data)
	}
}

// waitForReceipt logs in over IMAP and returns the first receipt in
// INBOX once there is one.
func waitForReceipt(t *testing.T, addr, user, password string) []byte {
	t.Helper()
	return waitForReceiptOf(t, addr, user, password, "")
}

// reportPart returns the body of the part of a multipart/report with the
// given media type, after checking the receipt parses as MIME.
func reportPart(t *testing.T, raw []byte, mediaType string) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the receipt does not parse: %v\n%s", err, raw)
	}
	if mt, _, _ := e.Header.ContentType(); mt != "multipart/report" {
		t.Fatalf("the receipt is %s, not multipart/report", mt)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no %s part: %v\n%s", mediaType, err, raw)
		}
		if mt, _, _ := p.Header.ContentType(); mt == mediaType {
			b, _ := io.ReadAll(p.Body)
			return string(b)
		}
	}
}
