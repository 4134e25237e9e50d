package readerweb

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"sigill/addressing"
	"sigill/vault"
)

// replyBody is a multipart form as the page's form posts it.
func replyBody(t testing.TB, text string, files map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("text", text)
	for name, body := range files {
		w, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if len(files) == 0 {
		mw.CreateFormFile("files", "") // what a browser sends when no file was chosen
	}
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func (b *browser) postReply(token, text string, files map[string][]byte, hdr ...string) resp {
	b.e.t.Helper()
	body, ct := replyBody(b.e.t, text, files)
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+"/m/"+token+"/reply?lang=sv", body)
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

func (e *env) replies(id string) []vault.Event {
	var out []vault.Event
	for _, ev := range e.events(id) {
		if ev.Kind == vault.EventReplied {
			out = append(out, ev)
		}
	}
	return out
}

// After BankID the page offers a text box and files; the answer posted
// from it is recorded as the person's, its mail names them masked, and the
// page then shows what they sent.
func TestReplyFromThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	anyone := recipient()
	anyone.Anyone = true
	id, token := e.accept("Provsvar", sample(t, "thunderbird-attachment.eml"), anyone)
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	page := b.get("/m/" + token)
	for _, want := range []string{`action="/m/` + token + `/reply?lang=sv"`, `enctype="multipart/form-data"`, `name="text"`, `type="file" name="files" multiple`, "högst 66 kB"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the message page lacks %q", want)
		}
	}
	r := b.postReply(token, "Tack! Jag kommer på tisdag.", map[string][]byte{"remiss.pdf": []byte("%PDF-1.7 remiss")})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+token+"?lang=sv#replies" {
		t.Fatalf("POST reply: %d %v %s", r.status, r.header, r.body)
	}
	replies := e.replies(id)
	if len(replies) != 1 || replies[0].PersonalNumber != pnA || replies[0].IP != "127.0.0.1" {
		t.Fatalf("replied events %+v", replies)
	}
	raw, _, err := e.boxes.Message(testOrg, replies[0].Seq)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"19990807-****", "Tack! Jag kommer p", "remiss.pdf", "Cc: <kansli@staff.test>", "To: <dev@staff.test>"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the reply's mail lacks %q:\n%s", want, raw)
		}
	}
	page = b.get("/m/" + token)
	for _, want := range []string{"Dina svar", "Tack! Jag kommer på tisdag.", "remiss.pdf (15 B)"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page after the reply lacks %q", want)
		}
	}
	var lj letterJSON
	mustJSON(t, b.get("/m/"+token+"/message.json").body, &lj)
	if !lj.RepliesAllowed || len(lj.Replies) != 1 || !strings.Contains(lj.Replies[0].Text, "tisdag") || lj.Replies[0].Files[0] != "remiss.pdf (15 B)" {
		t.Errorf("message.json replies: %v %+v", lj.RepliesAllowed, lj.Replies)
	}

	// Another person who may open the same link (login=*) sees none of it.
	other := e.browser()
	if st := other.openWithQR(token, pnB); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	if p := other.get("/m/" + token); strings.Contains(p.body, "tisdag") || strings.Contains(p.body, "Dina svar") || !strings.Contains(p.body, `name="text"`) {
		t.Error("another person's page shows the first one's answer, or no box")
	}
}

// With reply=no the page offers no box and says why, and a POST is
// refused with 403 and the reason; nothing is recorded.
func TestReplyOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := recipient(pnA)
	rc.Reply = addressing.RepliesNo
	id, token := e.accept("Provsvar", sample(t, "thunderbird-attachment.eml"), rc)
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	page := b.get("/m/" + token)
	if strings.Contains(page.body, `name="text"`) || !strings.Contains(page.body, textsSV.RepliesOff) {
		t.Errorf("reply=no: the page offers a box, or does not say why")
	}
	r := b.postReply(token, "Hej", nil)
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "stängt av svar") {
		t.Errorf("POST reply to reply=no: %d %s", r.status, r.body)
	}
	r = b.postReply(token, "Hej", nil, "Accept", "application/json")
	if r.status != http.StatusForbidden || !strings.Contains(r.body, `"replies_off"`) {
		t.Errorf("POST reply (JSON) to reply=no: %d %s", r.status, r.body)
	}
	if n := len(e.replies(id)); n != 0 {
		t.Errorf("%d replies recorded", n)
	}
}

// A reply needs the grant (BankID first) and a same-origin POST; an empty
// one is refused; one over the limit gets 413 naming the limit, whether
// the form is too large or the mail it makes (files in base64).
func TestReplyRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept("Provsvar", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	if r := e.browser().postReply(token, "Hej", nil); r.status != http.StatusForbidden {
		t.Errorf("without BankID: %d", r.status)
	}
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	if r := b.postReply(token, "Hej", nil, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("a cross-site POST: %d", r.status)
	}
	if r := b.postReply(token, " \n ", nil); r.status != http.StatusBadRequest || !strings.Contains(r.body, "Svaret är tomt") {
		t.Errorf("an empty reply: %d %s", r.status, r.body)
	}
	for what, size := range map[string]int{"a form over the limit": testMaxReply + replyFormOverhead + 1, "a mail over the limit": testMaxReply * 9 / 10} {
		r := b.postReply(token, "Här är filen", map[string][]byte{"stor.bin": bytes.Repeat([]byte{0xa5}, size)})
		if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(r.body, "större än 66 kB") {
			t.Errorf("%s: %d %.300s", what, r.status, r.body)
		}
	}
	if r := b.postForm("/m/"+token+"/reply", url.Values{"text": {"Bara text"}}, "Content-Type", "application/json"); r.status != http.StatusBadRequest || !strings.Contains(r.body, `"bad_form"`) {
		t.Errorf("a body that is no form: %d %s", r.status, r.body)
	}
	if r := b.postForm("/m/"+token+"/reply", url.Values{"text": {"Bara text"}}); r.status != http.StatusSeeOther {
		t.Errorf("a urlencoded reply: %d %s", r.status, r.body)
	}
	if n := len(e.replies(id)); n != 1 {
		t.Errorf("%d replies recorded; want the urlencoded one", n)
	}
}

// Replies to one link are throttled: past the burst, 429.
func TestReplyThrottled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *Options) {
		o.limits.replies = newLimiterSet(rate.Every(time.Hour), 2, maxLimiterKeys)
	}})
	_, token := e.accept("Provsvar", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	var got []int
	for range 3 {
		got = append(got, b.postReply(token, "Hej igen", nil).status)
	}
	if got[0] != http.StatusSeeOther || got[1] != http.StatusSeeOther || got[2] != http.StatusTooManyRequests {
		t.Errorf("three replies with a burst of two: %v", got)
	}
}

// FuzzReplyForm: whatever body and Content-Type a client posts, reading the
// form neither panics nor yields more than the body held.
func FuzzReplyForm(f *testing.F) {
	body, ct := replyBody(f, "Tack!", map[string][]byte{"a.pdf": []byte("%PDF")})
	f.Add(ct, body.Bytes())
	f.Add("application/x-www-form-urlencoded", []byte("text=hej%20hopp&files=x"))
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"../../a\"\r\n\r\nabc\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/m/x/reply", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		text, files, err := readReplyForm(req)
		if err != nil {
			return
		}
		n := len(text)
		for _, f := range files {
			n += len(f.Body)
			if strings.Contains(f.Name, "/") {
				t.Fatalf("a file name with a path: %q", f.Name)
			}
		}
		if n > len(body) || len(files) > maxReplyFiles {
			t.Fatalf("%d bytes and %d files from a body of %d", n, len(files), len(body))
		}
	})
}
