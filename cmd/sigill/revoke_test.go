package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config"
	"sigill/internal/testenv"
	"sigill/vault/vaulttest"
)

// linkJSON asks a link's JSON endpoint as a script does.
func linkJSON(t *testing.T, link string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", link+"/message.json", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitForReceiptOf logs in over IMAP and returns the receipt in INBOX whose
// X-Sigill-Receipt header starts with what, once there is one.
func waitForReceiptOf(t *testing.T, addr, user, password, what string) []byte {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN: %v", err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		box, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if box.NumMessages > 0 {
			all := imap.SeqSet{}
			all.AddRange(1, box.NumMessages)
			msgs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
			if err != nil {
				t.Fatalf("FETCH BODY[]: %v", err)
			}
			for _, m := range msgs {
				if len(m.BodySection) == 1 && bytes.Contains(m.BodySection[0].Bytes, []byte("\r\nX-Sigill-Receipt: "+what)) {
					return m.BodySection[0].Bytes
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no receipt %q in INBOX within 15 s", what)
		}
	}
}

// TestRevokeInDev, against the built `sigill dev`: a message sent over
// SMTP to two recipients is withdrawn for one with `sigill message revoke`
// (through the running daemon's admin listener); that link's page says
// withdrawn with the errand and the sender and its JSON answers 410, the
// other still opens; a copy of the data folder made after opens nothing
// of the withdrawn copy with its token; the sender finds the DSN in IMAP,
// threaded with the sent mail. Then a message sent through the REST API is
// withdrawn with Python's urllib and curl.
func TestRevokeInDev(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	python := testenv.Tool(t, "python3", "python3")
	data := t.TempDir()
	d := startDev(t, data)
	c, err := smtp.Dial(d.addr(config.DevSubmissionPort))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewLoginClient(config.DevAccount, devPassword)); err != nil {
		t.Fatal(err)
	}
	// Two recipients: the first is withdrawn, the second kept.
	if err := c.Mail(config.DevAccount, nil); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{devRcpt, "anna.svensson=example.com&login=199908072391&@secure.test"} {
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "From: <"+config.DevAccount+">\r\nSubject: Provsvar-tillbaka\r\nMessage-ID: <revoke-1@staff.test>\r\n\r\nHej! Ditt provsvar är klart.\r\n")
	resp, err := w.CloseWithResponse()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(resp.StatusText, "2.0.0 "), " queued")
	links := map[string]string{}
	for _, n := range waitForNotifications(t, data, id, 2) {
		links[n.To] = n.Link
	}
	withdrawn, kept := links["+46701234567"], links["anna.svensson@example.com"]
	if withdrawn == "" || kept == "" {
		t.Fatalf("notifications: %v", links)
	}
	token := withdrawn[strings.LastIndex(withdrawn, "/")+1:]

	out, stderr, code := run(t, "", "message", "revoke", "-data", data, "-recipient", "0", "-reason", "fel mottagare", id)
	if code != 0 || !strings.Contains(out, id+": withdrawn for recipient 0") || stderr != "" {
		t.Fatalf("message revoke: exit %d\n%s%s", code, out, stderr)
	}
	if out, _, code := run(t, "", "message", "revoke", "-data", data, "-recipient", "0", id); code != 0 || !strings.Contains(out, "already withdrawn for recipient 0") {
		t.Errorf("message revoke again: exit %d, %s", code, out)
	}
	if _, stderr, code := run(t, "", "message", "revoke", "-data", data, "-reason", "avsett för 199908072391", id); code != 2 || !strings.Contains(stderr, "personal number") || strings.Contains(stderr, "199908072391") {
		t.Errorf("a reason with a personal number: exit %d, %s", code, stderr)
	}
	if _, stderr, code := run(t, "", "message", "revoke", "-data", data, "nosuchmessage"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown message: exit %d, %s", code, stderr)
	}

	status, page := getPage(t, withdrawn)
	if status != 200 || !strings.Contains(page, "Meddelandet har dragits tillbaka") || !strings.Contains(page, "Provsvar-tillbaka") || !strings.Contains(page, config.DevAccount) || strings.Contains(page, "fel mottagare") {
		t.Errorf("the withdrawn link's page: %d\n%s", status, page)
	}
	if status, body := linkJSON(t, withdrawn); status != http.StatusGone || !strings.Contains(body, `"withdrawn"`) {
		t.Errorf("the withdrawn link's JSON: %d %s", status, body)
	}
	if status, page := getPage(t, kept); status != 200 || !strings.Contains(page, "Kan läsas till") {
		t.Errorf("the other link: %d", status)
	}

	// A copy of the data folder made now, with the key file and key store,
	// opens nothing of the withdrawn copy with its token; the kept one opens.
	keptToken := kept[strings.LastIndex(kept, "/")+1:]
	r := vaulttest.Scan(stolenDataFolder(t, data, nil, []string{token, keptToken}))
	for _, f := range r.Of(id) {
		if f.Token == token && (f.What == "message key" || f.What == "content") {
			t.Errorf("a copy made after the withdrawal opens it: %s", f)
		}
	}
	if r.WrappedKeys < 2 || !r.Has(id, "content") {
		t.Errorf("control: the kept copy does not open from the copy (%d wrapped keys): %v", r.WrappedKeys, r.Of(id))
	}

	dsn := waitForReceiptOf(t, d.addr(config.DevIMAPPort), config.DevAccount, devPassword, "revoked; message="+id+"; recipient=0")
	if !bytes.Contains(dsn, []byte("In-Reply-To: <revoke-1@staff.test>")) || !strings.Contains(reportPart(t, dsn, "message/delivery-status"), "Diagnostic-Code: X-Sigill; withdrawn: fel mottagare") {
		t.Errorf("the DSN:\n%s", dsn)
	}

	// The REST API: withdraw a message sent through it, with urllib, then
	// ask again with curl; the link says withdrawn.
	base := "http://" + d.addr(config.DevStaffPort)
	key := createKey(t, "create", config.DevAccount, "-data", data)
	sent := pySend(t, python, base, key, "revoke-1", "Remiss-tillbaka")
	var m struct{ ID string }
	if sent.status != "201" || json.Unmarshal([]byte(sent.body), &m) != nil {
		t.Fatalf("urllib send: %+v", sent)
	}
	apiLink := waitForNotification(t, data, m.ID).Link
	out2, err := exec.Command(python, "-c", revokePython, base, key, m.ID).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out2), "200\n") || !strings.Contains(string(out2), `"status":"revoked"`) || !strings.Contains(string(out2), `"reason":"skickat av misstag"`) {
		t.Errorf("urllib revoke: %v\n%s", err, out2)
	}
	again, err := exec.Command(curl, "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Authorization: Bearer "+key, base+"/api/v1/messages/"+m.ID+"/revoke").Output()
	if err != nil || !strings.HasSuffix(string(again), "\n200") {
		t.Errorf("curl revoke again: %v\n%s", err, again)
	}
	if status, body := linkJSON(t, apiLink); status != http.StatusGone {
		t.Errorf("the API message's link after the withdrawal: %d %s", status, body)
	}
	feed, err := exec.Command(curl, "-sSf", "-H", "Authorization: Bearer "+key, base+"/api/v1/events").Output()
	if err != nil || strings.Count(string(feed), `"type":"revoked"`) != 2 {
		t.Errorf("the event feed: %v\n%s", err, feed)
	}
}

// revokePython withdraws a message through the REST API with urllib and
// prints the status and the body.
const revokePython = `
import json, sys, urllib.request, urllib.error
base, key, id = sys.argv[1:4]
req = urllib.request.Request(base + "/api/v1/messages/" + id + "/revoke", method="POST",
    data=json.dumps({"reason": "skickat av misstag"}).encode(),
    headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
try:
    resp = urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    resp = e
print(resp.status)
print(resp.read().decode())
`
