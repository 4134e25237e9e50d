package readerweb

import (
	"encoding/json"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigill/vault"
)

// The Outlook sample's inline image is served from the message at the URL
// the sanitised HTML names, and is not listed as an attachment.
func TestCidImageServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	page, src := cidImage(t, b, token)
	img := b.get(src)
	if img.status != 200 || img.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(img.body, "\x89PNG") {
		t.Fatalf("cid image: %d %v", img.status, img.header)
	}
	if img.header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(img.header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("cid image headers: %v", img.header)
	}
	if strings.Contains(page.body, "Bilagor") {
		t.Error("the inline image is listed as an attachment")
	}
	// Without the session, nothing.
	if r := e.browser().get(src); r.status != http.StatusForbidden || strings.Contains(r.body, "PNG") {
		t.Fatalf("cid image without a session: %d", r.status)
	}
}

// Attachments download with Content-Disposition: attachment and nosniff.
func TestAttachmentDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept("Kallelse till återbesök", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	var lj letterJSON
	mustJSON(t, b.get("/m/"+token+"/message.json").body, &lj)
	if len(lj.Attachments) != 1 || lj.Attachments[0].Name != "Kallelse.pdf" || lj.Attachments[0].Size < 100 {
		t.Fatalf("attachments %+v", lj.Attachments)
	}
	r := b.get(lj.Attachments[0].URL)
	if r.status != 200 || !strings.HasPrefix(r.body, "%PDF") || len(r.body) != lj.Attachments[0].Size {
		t.Fatalf("download: %d %q", r.status, r.body[:min(20, len(r.body))])
	}
	disp, params, err := mime.ParseMediaType(r.header.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] != "Kallelse.pdf" {
		t.Fatalf("Content-Disposition %q", r.header.Get("Content-Disposition"))
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Content-Type") != "application/pdf" ||
		r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download headers %v", r.header)
	}
	page := b.get("/m/" + token)
	if !strings.Contains(page.body, `download="Kallelse.pdf"`) || !strings.Contains(page.body, "Bilagor") {
		t.Fatalf("page does not list the attachment:\n%s", page.body)
	}
	// format=flowed lines are joined.
	if !strings.Contains(lj.Text, "klockan 10.15. Kallelsen") {
		t.Errorf("flowed text not joined: %q", lj.Text)
	}
	// The text part is not an attachment; the body is not a download.
	if r := b.get("/m/" + token + "/att/0"); r.status != http.StatusNotFound {
		t.Errorf("the body part as a download: %d", r.status)
	}
	if r := b.get("/m/" + token + "/att/99"); r.status != http.StatusNotFound {
		t.Errorf("a missing part: %d", r.status)
	}
}

const hostileMail = "From: Anna Andersson <dev@staff.test>\r\n" +
	"Subject: Test\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/related; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<html><head><style>body{background:url(http://remote.example/bg.png)}</style>" +
	"<script>alert('head')</script></head><body>" +
	"<p onclick=\"alert(1)\" style=\"color:red\">Hej <b>där</b></p>" +
	"<script>alert(document.cookie)</script>" +
	"<img src=\"http://remote.example/track.gif\" width=\"1\" height=\"1\">" +
	"<img src=\"https://remote.example/pixel.png\">" +
	"<img src=\"cid:logo@x\" alt=\"logo\">" +
	"<img src=\"cid:nothere@x\">" +
	"<img src=\"data:image/png;base64,iVBORw0KGgo=\">" +
	"<a href=\"javascript:alert(2)\">js</a> <a href=\"https://example.se/info\">info</a>" +
	"<iframe src=\"https://remote.example/\"></iframe>" +
	"<form action=\"https://remote.example/\"><input name=q></form>" +
	"<svg><script>alert(3)</script></svg>" +
	"<table background=\"http://remote.example/t.png\"><tr><td>cell</td></tr></table>" +
	"<link rel=\"stylesheet\" href=\"http://remote.example/x.css\">" +
	"</body></html>\r\n" +
	"--b1\r\n" +
	"Content-Type: image/png\r\n" +
	"Content-ID: <logo@x>\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4IScHRwzEcQCxYxBBO0tjggAAAABJRU5ErkJggg==\r\n" +
	"--b1\r\n" +
	"Content-Type: image/svg+xml; name=\"evil.svg\"\r\n" +
	"Content-ID: <svg@x>\r\n" +
	"\r\n" +
	"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(4)</script></svg>\r\n" +
	"--b1--\r\n"

// HTML is sanitised: no script, handler, style, form, frame or remote
// content survives; cid: images point at the message.
func TestHTMLSanitised(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept("Test", []byte(hostileMail), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	var lj letterJSON
	mustJSON(t, b.get("/m/"+token+"/message.json").body, &lj)
	html := lj.HTML
	for _, bad := range []string{"<script", "alert", "onclick", "style", "remote.example", "javascript:",
		"<iframe", "<form", "<input", "<svg", "<link", "data:", "nothere", "cid:", "background"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("%q survived:\n%s", bad, html)
		}
	}
	if !strings.Contains(html, `<img src="/m/`+token+`/cid/1" alt="logo">`) {
		t.Errorf("cid image not rewritten:\n%s", html)
	}
	if !strings.Contains(html, `href="https://example.se/info"`) || !strings.Contains(html, `target="_blank"`) ||
		!strings.Contains(html, "noreferrer") {
		t.Errorf("link not kept safely:\n%s", html)
	}
	if !strings.Contains(html, "Hej <b>där</b>") {
		t.Errorf("text lost:\n%s", html)
	}
	// The SVG part is an attachment, served so that it cannot run.
	if len(lj.Attachments) != 1 || lj.Attachments[0].Name != "evil.svg" {
		t.Fatalf("attachments %+v", lj.Attachments)
	}
	r := b.get(lj.Attachments[0].URL)
	if r.header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("SVG download headers: %v", r.header)
	}
	if r := b.get("/m/" + token + "/cid/2"); r.status != http.StatusNotFound {
		t.Errorf("SVG served as an inline image: %d", r.status)
	}
	// The page shows the same sanitised HTML.
	page := b.get("/m/" + token).body
	if strings.Contains(page, "remote.example") || strings.Contains(page, "alert(") {
		t.Errorf("page carries hostile content:\n%s", page)
	}
}

// message.json has exactly the fields design.md lists.
func TestMessageJSONShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if r := b.get("/m/" + token + "/message.json"); r.status != http.StatusForbidden || strings.Contains(r.body, "provsvar") {
		t.Fatalf("before BankID: %d %s", r.status, r.body)
	}
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	r := b.get("/m/" + token + "/message.json")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	var m map[string]json.RawMessage
	mustJSON(t, r.body, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if strings.Join(keys, ",") != "attachments,errand,expires,from,html,replies,replies_allowed,sent,text" {
		t.Fatalf("keys %v", keys)
	}
	var lj letterJSON
	mustJSON(t, r.body, &lj)
	if lj.Errand != outlookErrand || lj.From != "dev@staff.test" ||
		!strings.Contains(lj.Text, "Ditt provsvar är klart") || !strings.Contains(lj.HTML, "Ditt provsvar är klart") ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(lj.Sent) {
		t.Fatalf("content %+v", lj)
	}
	if sent, _ := time.Parse(time.RFC3339, lj.Sent); lj.Expires != sent.Add(vault.DefaultRetention).Format(time.RFC3339) {
		t.Fatalf("expires %q, want %s after sent %q", lj.Expires, vault.DefaultRetention, lj.Sent)
	}
	if string(m["attachments"]) != "[]" {
		t.Fatalf("attachments %s, want []", m["attachments"])
	}

	// A message with an attachment: each has exactly name, size, url.
	_, token2 := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b2 := e.browser()
	if st := b2.openWithQR(token2, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	var m2 struct {
		Attachments []map[string]json.RawMessage `json:"attachments"`
	}
	mustJSON(t, b2.get("/m/"+token2+"/message.json").body, &m2)
	if len(m2.Attachments) != 1 || len(m2.Attachments[0]) != 3 || m2.Attachments[0]["name"] == nil ||
		m2.Attachments[0]["size"] == nil || m2.Attachments[0]["url"] == nil {
		t.Fatalf("attachment shape %v", m2.Attachments)
	}
}

// The three client samples read as their senders wrote them.
func TestParseSamples(t *testing.T) {
	t.Parallel()
	lb, err := parseLetter(sample(t, "outlook-windows-1252.eml"), "/m/x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lb.Text, "Svaret från röntgen är klart – inga fynd.") || lb.HTML != "" || len(lb.Attachments) != 0 {
		t.Fatalf("windows-1252: %+v", lb)
	}
	lb, err = parseLetter(sample(t, "outlook-html-inline-image.eml"), "/m/x")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(lb.HTML, "MsoNormal") || strings.Contains(lb.HTML, "Calibri") || !strings.Contains(lb.HTML, `src="/m/x/cid/2"`) ||
		!strings.Contains(lb.HTML, "Ingen åtgärd behövs.") || len(lb.Attachments) != 0 {
		t.Fatalf("outlook html: %q %v", lb.HTML, lb.Attachments)
	}
	lb, err = parseLetter(sample(t, "thunderbird-attachment.eml"), "/m/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Attachments) != 1 || lb.Parts[lb.Attachments[0]].Name != "Kallelse.pdf" || lb.Parts[lb.Attachments[0]].MediaType != "application/pdf" {
		t.Fatalf("thunderbird: %+v", lb.Attachments)
	}
}

func TestUnflow(t *testing.T) {
	for _, c := range []struct {
		in    string
		delsp bool
		want  string
	}{
		{"Hej, \nvärlden\n", false, "Hej, världen\n"},
		{"one \ntwo \nthree\nfour", false, "one two three\nfour"},
		{"> quoted \n> more\nplain", false, "> quoted more\nplain"},
		{"-- \nsig", false, "-- \nsig"},
		{" >stuffed", false, ">stuffed"},
		{"abc \ndef", true, "abcdef"},
	} {
		if got := unflow(c.in, c.delsp); got != c.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", c.in, c.delsp, got, c.want)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	for in, want := range map[string]string{
		"Kallelse.pdf":           "Kallelse.pdf",
		"../../etc/passwd":       "passwd",
		`C:\Users\x\evil.exe`:    "evil.exe",
		"a\r\nb\".txt":           "ab.txt",
		"":                       "bilaga-3.pdf",
		"räkning åäö.pdf":        "räkning åäö.pdf",
		strings.Repeat("x", 300): strings.Repeat("x", 150),
	} {
		if got := safeFileName(in, "application/pdf", 2); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A reader who has opened the message fetches its inline images without
// running into the link's rate limit (a mail with dozens of images is one
// page view); the production limits apply, with the clock held still so no
// bucket refills.
func TestManyImagesWithinLimits(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{realLimits: true, opts: func(o *Options) { o.Now = clock.Now }})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	_, src := cidImage(t, b, token)
	for i := range 60 { // twice the link's burst of 30
		if r := b.get(src); r.status != 200 {
			t.Fatalf("image fetch %d: %d", i+1, r.status)
		}
	}
}

// cidImage fetches the message page and returns it with the src of its
// first inline image.
func cidImage(t *testing.T, b *browser, token string) (resp, string) {
	t.Helper()
	page := b.get("/m/" + token)
	m := regexp.MustCompile(`<img [^>]*src="(/m/` + regexp.QuoteMeta(token) + `/cid/\d+)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no cid image in the page:\n%s", page.body)
	}
	return page, m[1]
}

// The page names the sender the gateway vouches for — the account, or for
// relayed mail the envelope sender — beside the organisation, on the landing
// page and with the message. A From header that names someone else is shown
// only as "on behalf of", marked unverified, never as the sender.
func TestPageShowsTheVouchedSender(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw := []byte("From: \"Region Chef\" <chef@region.example>\r\nSubject: Beslut\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej! Beslutet är fattat.\r\n")
	for _, c := range []struct{ name, account, envelope, vouched string }{
		{"submission", "dev@staff.test", "dev@staff.test", "dev@staff.test"},
		{"relay", "", "clinic@staff.test", "clinic@staff.test"},
	} {
		_, token := e.acceptFrom(c.account, c.envelope, "Beslut", raw, recipient(pnA))
		b := e.browser()
		landing := b.get("/m/" + token)
		if !strings.Contains(landing.body, "<dt>Från</dt><dd>"+c.vouched+"</dd>") || !strings.Contains(landing.body, "Vårdcentralen Exempel") {
			t.Errorf("%s: the landing page does not name %s and the organisation:\n%s", c.name, c.vouched, landing.body)
		}
		if st := b.openWithQR(token, pnA); st.Status != "complete" {
			t.Fatalf("%s: %+v", c.name, st)
		}
		page := b.get("/m/" + token)
		if !strings.Contains(page.body, "<dt>Från</dt><dd>"+c.vouched+"</dd>") ||
			!strings.Contains(page.body, "<dt>På uppdrag av</dt><dd>Region Chef &lt;chef@region.example&gt; <small>(som avsändaren skrev det, inte kontrollerat)</small></dd>") {
			t.Errorf("%s: the message page:\n%s", c.name, page.body)
		}
		if strings.Contains(page.body, "<dt>Från</dt><dd>Region Chef") {
			t.Errorf("%s: the forged From is shown as the sender", c.name)
		}
		var lj letterJSON
		mustJSON(t, b.get("/m/"+token+"/message.json").body, &lj)
		if lj.From != c.vouched || lj.OnBehalfOf != "Region Chef <chef@region.example>" {
			t.Errorf("%s: message.json from %q, on_behalf_of %q", c.name, lj.From, lj.OnBehalfOf)
		}
	}
	// The account's own address, under any name, is no one else.
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	b.openWithQR(token, pnA)
	if page := b.get("/m/" + token); !strings.Contains(page.body, "<dt>Från</dt><dd>dev@staff.test</dd>") || strings.Contains(page.body, "På uppdrag av") {
		t.Errorf("a From of the account itself:\n%s", page.body)
	}
}
