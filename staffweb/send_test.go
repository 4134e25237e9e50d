package staffweb

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"sigill/addressing"
	"sigill/intake"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// sendingEnv is a staff web that sends (withSending).
func sendingEnv(t *testing.T) *env { return newEnv(t, withSending) }

// withSending gives a staff web the addressing and intake rules of a
// gateway at secure.test, and pages in English.
func withSending(o *Options) {
	o.DefaultLang = "en"
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Sending = Sending{
		Policy:        addressing.Policy{Domains: []string{"secure.test"}, Region: "SE", MaxLifetime: 90 * 24 * 3600e9},
		Rules:         intake.Rules{MaxBytes: 256 << 10, DefaultErrand: map[string]string{"sv": "Säkert meddelande", "en": "Secure message"}},
		MaxRecipients: 5,
		Hostname:      "gateway.test",
	}
}

type file struct{ name, contentType, content string }

// postMultipart sends the send form as a browser does (multipart, same
// origin).
func (b *browser) postMultipart(path string, fields url.Values, files ...file) answer {
	b.e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="attachment"; filename="` + f.name + `"`}
		h["Content-Type"] = []string{f.contentType}
		w, _ := mw.CreatePart(h)
		io.WriteString(w, f.content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.e.srv.URL)
	return b.do(req)
}

// opened reads each pending notification's link token and the message
// it opens: what the recipient would read.
func (e *env) opened() map[int][]byte {
	e.t.Helper()
	jobs, err := e.v.PendingJobs()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int][]byte{}
	for _, j := range jobs {
		_, raw, err := e.v.Decrypt(j.Token)
		if err != nil {
			e.t.Fatal(err)
		}
		out[j.Recipient] = raw
	}
	return out
}

var reMessagePath = regexp.MustCompile(`^/messages/([A-Za-z0-9_-]+)$`)

func TestSendStoresTheMessageAsSMTPDoes(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	if a := b.get("/send"); a.status != 200 || !strings.Contains(a.body, `name="recipients"`) || !strings.Contains(a.body, "travels unencrypted") {
		t.Fatalf("GET /send: %d %s", a.status, a.body)
	}
	a := b.postMultipart("/send", url.Values{
		"recipients":    {"0701234567 199908072391, 19861123-9883\r\n\r\nanna.svensson=example.com&login=*&\r\n070-1234567 198611239883 199908072391"},
		"subject":       {"Provsvar"},
		"body":          {"Hej! Ditt provsvar är klart."},
		"lang":          {"en"},
		"exp":           {"7d"},
		"replies_shown": {"1"}, // and "replies" left out: unticked
	}, file{"svar.pdf", "application/pdf", "%PDF-1.4 provsvar"})
	m := reMessagePath.FindStringSubmatch(a.location)
	if a.status != http.StatusSeeOther || m == nil {
		t.Fatalf("POST /send: %d → %q\n%s", a.status, a.location, a.body)
	}
	id := m[1]
	if page := b.get(a.location); page.status != 200 || !strings.Contains(page.body, "The message has been sent.") {
		t.Errorf("GET %s: %d %s", a.location, page.status, page.body)
	}

	// Two recipients: the third line is the first person written again.
	p := e.opt.Sending.Policy
	first, _ := p.Parse("0701234567&login=199908072391&login=198611239883&lang=en&reply=no&@secure.test")
	second, _ := p.Parse("anna.svensson=example.com&login=*&lang=en&reply=no&@secure.test")
	for i, want := range []addressing.Recipient{first, second} {
		l, err := e.v.LetterByID(id, i)
		if err != nil {
			t.Fatal(err)
		}
		if l.Rcpt.LocalPart() != want.LocalPart() || l.Account != staffAddr || l.Errand != "Provsvar" {
			t.Errorf("recipient %d: %+v, want %s", i, l, want.LocalPart())
		}
		if l.Expires.Sub(l.Received) != 7*24*3600e9 {
			t.Errorf("recipient %d expires %v after it was received, want 7d", i, l.Expires.Sub(l.Received))
		}
	}
	if _, err := e.v.LetterByID(id, 2); err == nil {
		t.Error("a person written twice got two copies")
	}

	// What the recipient reads is the MIME message intake took, with the
	// attachment and the sender the account.
	raw := e.opened()[0]
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if from, _ := mr.Header.AddressList("From"); len(from) != 1 || from[0].Address != staffAddr {
		t.Errorf("From %v", from)
	}
	var text, attachment string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part.Body)
		switch h := part.Header.(type) {
		case *mail.InlineHeader:
			text += string(body)
		case *mail.AttachmentHeader:
			name, _ := h.Filename()
			attachment = name + ":" + string(body)
		}
	}
	if !strings.Contains(text, "Ditt provsvar är klart.") || attachment != "svar.pdf:%PDF-1.4 provsvar" {
		t.Errorf("the message reads %q with attachment %q", text, attachment)
	}
}

func TestSendNamesEveryFaultByItsFieldAndKeepsWhatWasTyped(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	typed := url.Values{
		"recipients": {"0701234567 199908072392\nanna@example.com&login=*&\n0701234567&login=199908072391&"},
		"subject":    {"Svar till 19990807-2391"},
		"body":       {"Hemligt innehåll"},
		"lang":       {"en"},
		"exp":        {"400d"},
	}
	a := b.postMultipart("/send", typed)
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("POST /send with faults: %d %s", a.status, a.body)
	}
	for _, want := range []string{
		// each fault next to its field, naming the faulty value
		`<div id="recipients-error"><p class="error">Line 1 (0701234567 199908072392): login=199908072392 has a wrong check digit (expected 1)`,
		`id="recipients" name="recipients" rows="4" required spellcheck="false" autocomplete="off" aria-invalid="true"`,
		`<div id="subject-error"><p class="error">The errand holds a personal identity number (19990807-****)`,
		`id="subject" name="subject" type="text" maxlength="255" value="Svar till 19990807-2391" aria-invalid="true"`,
		`<div id="exp-error"><p class="error">400d is longer than this gateway keeps messages (90d).</p>`,
		`id="exp" name="exp" type="text" inputmode="text" size="6" value="400d" aria-invalid="true"`,
		// and what was typed kept
		">0701234567 199908072392\nanna@example.com&amp;login=*&amp;\n0701234567&amp;login=199908072391&amp;</textarea>",
		">Hemligt innehåll</textarea>",
		`id="body" name="body" rows="10" aria-invalid="false"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the form lacks %q\n%s", want, a.body)
		}
	}
	// An address-syntax line with '@' in the mailbox and no domain: the '@'
	// is the mailbox's, so the line is a quoted local part, and reads.
	if strings.Contains(a.body, "Line 2") {
		t.Errorf("line 2 refused: %s", a.body)
	}
	if jobs, _ := e.v.PendingJobs(); len(jobs) != 0 {
		t.Errorf("a form with faults stored %d notifications", len(jobs))
	}
	// No recipients and no body: each named.
	a = b.postMultipart("/send", url.Values{"recipients": {"  \n"}, "subject": {"x"}, "lang": {"sv"}})
	for _, want := range []string{"Write at least one recipient.", "Write a message or attach a file."} {
		if a.status != 422 || !strings.Contains(a.body, want) {
			t.Errorf("empty form: %d, lacks %q", a.status, want)
		}
	}
}

func TestSendWithoutSessionOrFromAnotherSite(t *testing.T) {
	e := sendingEnv(t)
	b := e.browser()
	if a := b.postMultipart("/send", url.Values{"recipients": {"0701234567 *"}, "body": {"x"}, "lang": {"sv"}}); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Errorf("without a session: %d → %s", a.status, a.location)
	}
	b.signIn(staffAddr, nil)
	req, _ := http.NewRequest("POST", e.srv.URL+"/send", strings.NewReader("recipients=0701234567+*&body=x&lang=sv"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if a := b.do(req); a.status != http.StatusForbidden {
		t.Errorf("a cross-site POST: %d", a.status)
	}
	if jobs, _ := e.v.PendingJobs(); len(jobs) != 0 {
		t.Errorf("%d notifications stored", len(jobs))
	}
}

// sendOne sends a message from the form and returns its id.
func (b *browser) sendOne(subject string, lines ...string) string {
	b.e.t.Helper()
	a := b.postMultipart("/send", url.Values{"recipients": {strings.Join(lines, "\n")}, "subject": {subject}, "body": {"Hej"}, "lang": {"sv"}})
	m := reMessagePath.FindStringSubmatch(a.location)
	if a.status != http.StatusSeeOther || m == nil {
		b.e.t.Fatalf("POST /send: %d → %q\n%s", a.status, a.location, a.body)
	}
	return m[1]
}

func (e *env) record(ev vault.Event) {
	e.t.Helper()
	if err := e.v.Record(ev); err != nil {
		e.t.Fatal(err)
	}
}

// messagesOf is what the sent index holds for owner.
func (e *env) messagesOf(owner string) []string {
	var ids []string
	e.v.View(sentindex.Tables, func(tx vault.Tx) error {
		ids, _, _ = sentindex.Messages(tx, owner, "", nil, 0)
		return nil
	})
	return ids
}

var _ = context.Background

func TestSendRefusesTooLargeAttachmentsByTheirField(t *testing.T) {
	e := sendingEnv(t) // smtp.max_message_bytes 256 KiB
	b := e.browser()
	b.signIn(staffAddr, nil)
	fields := url.Values{"recipients": {"0701234567 *"}, "subject": {"Röntgenbilder"}, "body": {"Bifogat"}, "lang": {"sv"}}
	// Under the form's bound but over the limit once MIME's base64 grows it.
	a := b.postMultipart("/send", fields, file{"bild.png", "image/png", strings.Repeat("x", 200<<10)})
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="attachment" name="attachment" type="file" multiple aria-invalid="true"`) ||
		!strings.Contains(a.body, "at most 262144 bytes") || !strings.Contains(a.body, `value="Röntgenbilder"`) {
		t.Errorf("a message over the limit: %d %s", a.status, a.body)
	}
	// Over the form's own bound: refused while reading, named the same way.
	a = b.postMultipart("/send", fields, file{"bild.png", "image/png", strings.Repeat("x", 2<<20)})
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, "at most 262144 bytes") {
		t.Errorf("a form over its bound: %d %s", a.status, a.body)
	}
	if jobs, _ := e.v.PendingJobs(); len(jobs) != 0 {
		t.Errorf("%d notifications stored", len(jobs))
	}
}
