package staffweb

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

var reFileLink = regexp.MustCompile(`href="(/messages/[A-Za-z0-9_-]+/replies/[0-9]+/files/0)" download`)

// answer posts a recipient's answer as the reader's page does.
func (e *env) answer(id string, recipient int, pn, name, text string, files ...receipts.File) {
	e.t.Helper()
	var l vault.Letter
	if err := e.v.View(nil, func(tx vault.Tx) error {
		var err error
		l, err = tx.Letter(id, recipient)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.boxes.PostReply(context.Background(), l, mailbox.Replier{PersonalNumber: pn, Name: name}, text, files); err != nil {
		e.t.Fatal(err)
	}
}

// A message's page shows the recipients' answers, their files to
// download (never shown inline), while the message can be read; after its
// expiry neither the answers nor their files.
func TestMessagePageReplies(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	id := b.sendOne("Provsvar", "0701234567 199908072391", "0701234568 198611239883")
	if page := b.get("/messages/" + id); !strings.Contains(page.body, "No answers yet.") {
		t.Errorf("before any answer: %s", page.body)
	}
	e.answer(id, 0, "199908072391", "Test Testsson", "Tack!\nJag kommer <på> tisdag.", receipts.File{Name: "intyg.html", ContentType: "text/html", Body: []byte("<script>alert(1)</script>")})
	e.clock.Advance(time.Minute)
	e.answer(id, 1, "198611239883", "Bo Bengtsson", "Det passar inte.")

	page := b.get("/messages/" + id)
	body := html.UnescapeString(page.body)
	for _, want := range []string{
		"Answers from the recipients",
		"Recipient 1, Test Testsson 19990807-****",
		`<p class="reply-text">Tack!` + "\n" + `Jag kommer <på> tisdag.</p>`,
		"Recipient 2, Bo Bengtsson 19861123-****",
		"Det passar inte.",
		"intyg.html</a> (25 B)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page.body, "<script>") || strings.Contains(page.body, "<på>") || strings.Contains(page.body, "199908072391") {
		t.Error("the page shows an answer unescaped, or a whole personal number")
	}
	link := reFileLink.FindStringSubmatch(page.body)
	if link == nil {
		t.Fatalf("no file link on the page:\n%s", page.body)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+link[1], nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != "<script>alert(1)</script>" || resp.Header.Get("Content-Type") != "application/octet-stream" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=intyg.html` || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("the file: %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if a := b.get(strings.TrimSuffix(link[1], "/0") + "/1"); a.status != http.StatusNotFound {
		t.Errorf("a file the answer does not have: %d", a.status)
	}

	e.clock.Advance(vault.DefaultRetention)
	b = e.browser() // the session has ended meanwhile
	b.signIn(staffAddr, nil)
	page = b.get("/messages/" + id)
	if page.status != http.StatusOK || !strings.Contains(page.body, "<h1>Provsvar</h1>") {
		t.Fatalf("the page after the expiry: %d", page.status)
	}
	if strings.Contains(page.body, "Answers from the recipients") || strings.Contains(page.body, "Tack!") || strings.Contains(page.body, `action="/messages/`+id+`/expiry"`) {
		t.Errorf("after the expiry the page shows the answers or the expiry form:\n%s", page.body)
	}
	if a := b.get(link[1]); a.status != http.StatusNotFound {
		t.Errorf("a file after the expiry: %d", a.status)
	}
}

// The expiry form shortens a message's lifetime with a lifetime counted
// from when it was sent and extends it with a date and time (Swedish
// time); each change is an expiry_changed event by the account; a value
// it cannot read, one past the limit and one in the past are refused next
// to the field, what was typed kept, nothing changed.
func TestMessagePageChangesExpiry(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	id := b.sendOne("Provsvar", "0701234567 199908072391")
	received, _, err := e.v.Expiry(id)
	if err != nil {
		t.Fatal(err)
	}
	page := b.get("/messages/" + id)
	if !strings.Contains(page.body, `<form method="post" action="/messages/`+id+`/expiry">`) {
		t.Errorf("the expiry form, with its limit:\n%s", page.body)
	}

	a := b.post("/messages/"+id+"/expiry", url.Values{"expires": {"2h"}})
	if a.status != http.StatusSeeOther || a.location != "/messages/"+id {
		t.Fatalf("2h: %d → %s\n%s", a.status, a.location, a.body)
	}
	if _, exp, _ := e.v.Expiry(id); !exp.Equal(received.Add(2 * time.Hour)) {
		t.Errorf("after 2h the expiry is %v, want %v", exp, received.Add(2*time.Hour))
	}
	if page := b.get("/messages/" + id); !strings.Contains(page.body, "The lifetime has been changed.") || !strings.Contains(page.body, "Lifetime changed by anna@staff.test") {
		t.Errorf("after the change:\n%s", page.body)
	}
	b.post("/messages/"+id+"/expiry", url.Values{"expires": {"2026-12-24 12:00"}})
	want := time.Date(2026, 12, 24, 12, 0, 0, 0, e.web.stockholm)
	if _, exp, _ := e.v.Expiry(id); !exp.Equal(want) {
		t.Errorf("after 2026-12-24 12:00 the expiry is %v, want %v", exp, want)
	}
	events, _ := e.v.Events(id)
	changes := 0
	for _, ev := range events {
		if ev.Kind == vault.EventExpiryChanged && ev.By == staffAddr {
			changes++
		}
	}
	if changes != 2 {
		t.Errorf("%d expiry_changed events by the account, want 2", changes)
	}

	for typed, fault := range map[string]string{
		"tomorrow":         "It cannot be read",
		"13w":              "later than messages are kept here",
		"2026-11-01 10:00": "not in the future",
	} {
		a := b.post("/messages/"+id+"/expiry", url.Values{"expires": {typed}})
		body := html.UnescapeString(a.body)
		if a.status != http.StatusUnprocessableEntity || !strings.Contains(body, `<p class="error" id="expires-error">`) || !strings.Contains(body, fault) ||
			!strings.Contains(body, `value="`+typed+`"`) || !strings.Contains(a.body, `aria-invalid="true"`) {
			t.Errorf("%q: %d, want the fault %q next to the field\n%s", typed, a.status, fault, body)
		}
	}
	if _, exp, _ := e.v.Expiry(id); !exp.Equal(want) {
		t.Errorf("a refused change changed the expiry to %v", exp)
	}
}
