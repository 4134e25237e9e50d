package main

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sigill/config"
	"sigill/internal/testenv"
)

// staffWebLifecycle is the staff web's lifecycle forms as a script without
// JavaScript posts them (Python's urllib, redirects not followed): sign in,
// the message's page, its answer's file, the expiry form. It prints one
// JSON object of what it saw.
const staffWebLifecycle = `
import http.cookiejar, json, re, sys, urllib.parse, urllib.request, urllib.error
base, user, password, msg = sys.argv[1:5]

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)

def call(method, path, fields=None):
    data = urllib.parse.urlencode(fields).encode() if fields is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        resp = opener.open(req)
    except urllib.error.HTTPError as e:
        resp = e
    return resp.status, resp.headers.get("Location", ""), resp.headers.get("Content-Disposition", ""), resp.read().decode()

seen = {}
seen["login"] = call("POST", "/login?lang=en", {"username": user, "password": password})[:2]
page = call("GET", "/messages/" + msg)[3]
seen["page"] = page
link = re.search(r'href="(/messages/[^"]+/files/0)"', page)
seen["file"] = [call("GET", link.group(1))[i] for i in (0, 2, 3)] if link else []
seen["expiry"] = call("POST", "/messages/" + msg + "/expiry", {"expires": "30d"})[:2]
seen["after"] = call("GET", "/messages/" + msg)[3]
seen["fault"] = call("POST", "/messages/" + msg + "/expiry", {"expires": "13w"})[::3]
print(json.dumps(seen))
`

// The lifecycle's API and staff web doors against the built `sigill dev`, with curl and
// Python's urllib as a system would call them: a message sent through the
// API, answered from its reader page (after BankID, with a file, posted
// by curl as a browser's form); GET …/replies gives the answer and the
// file's bytes; PUT …/expiry extends it (the link's page names the new
// end) and is refused past vault.max_retention, the limit named; the
// staff web's message page shows the answer and serves its file as a
// download, and its form extends the expiry (refused past the limit);
// `sigill gdpr export` holds the person's answer; once the message has expired,
// …/replies answers 410 saying why.
func TestLifecycleDoorsAgainstTheBinary(t *testing.T) {
	curl := testenv.Tool(t, "curl", "curl")
	python := testenv.Tool(t, "python3", "python3")
	data := t.TempDir()
	d := startDev(t, data)
	base := "http://" + d.addr(config.DevStaffPort)
	key := createKey(t, "create", config.DevAccount, "-data", data)
	sent := pySend(t, python, base, key, "lifecycle-1", "Kallelse")
	var m struct {
		ID      string
		Created time.Time
		Expires time.Time
	}
	if sent.status != "201" || json.Unmarshal([]byte(sent.body), &m) != nil {
		t.Fatalf("send: %+v", sent)
	}
	link := waitForNotification(t, data, m.ID).Link

	// The answer, posted as the reader's form does, with the session's cookie.
	web, _, status := signInAtReader(t, d, link, "199908072391")
	if status != "complete" {
		t.Fatalf("BankID: %s", status)
	}
	u, _ := url.Parse(link)
	var cookie string
	for _, ck := range web.Jar.Cookies(u) {
		cookie += ck.Name + "=" + ck.Value + "; "
	}
	const answer = "Tack! Jag kommer på tisdag."
	post := exec.Command(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Cookie: "+cookie, "-H", "Origin: "+u.Scheme+"://"+u.Host,
		"-F", "text="+answer, "-F", "files=@-;filename=remiss.txt;type=text/plain", link+"/reply")
	post.Stdin = strings.NewReader("remissens text")
	out, err := post.Output()
	if err != nil || (string(out) != "303" && string(out) != "201") {
		t.Fatalf("curl the reply: %v %s", err, out)
	}

	api := func(method, path, body string) (string, string) {
		t.Helper()
		args := []string{"-sS", "-w", "\n%{http_code}", "-X", method, "-H", "Authorization: Bearer " + key}
		if body != "" {
			args = append(args, "-H", "Content-Type: application/json", "--data", body)
		}
		out, err := exec.Command(curl, append(args, base+path)...).Output()
		if err != nil {
			t.Fatalf("curl %s %s: %v", method, path, err)
		}
		s := string(out)
		i := strings.LastIndex(s, "\n")
		return s[:i], s[i+1:]
	}
	replies, code := api("GET", "/api/v1/messages/"+m.ID+"/replies", "")
	var got struct {
		Replies []struct {
			By, Name, Text string
			Attachments    []struct {
				Filename string
				Size     int
				Content  string
			}
		}
	}
	if code != "200" || json.Unmarshal([]byte(replies), &got) != nil || len(got.Replies) != 1 || got.Replies[0].Text != answer || got.Replies[0].By != "19990807-****" {
		t.Fatalf("GET replies: %s %s", code, replies)
	}
	if f := got.Replies[0].Attachments; len(f) != 1 || f[0].Filename != "remiss.txt" || f[0].Size != 14 || f[0].Content != base64.StdEncoding.EncodeToString([]byte("remissens text")) {
		t.Errorf("the answer's file: %+v", f)
	}

	// Extended through the API: the link's page follows.
	body, code := api("PUT", "/api/v1/messages/"+m.ID+"/expiry", `{"expires_in": "60d"}`)
	if want := m.Created.Add(60 * 24 * time.Hour).Truncate(time.Second); code != "200" || !readableUntil(t, link).Equal(want) {
		t.Errorf("PUT expiry 60d: %s %s; the page says %v, want %v", code, body, readableUntil(t, link), want)
	}
	if body, code := api("PUT", "/api/v1/messages/"+m.ID+"/expiry", `{"expires_in": "13w"}`); code != "422" || !strings.Contains(body, "vault.max_retention") {
		t.Errorf("PUT expiry 13w: %s %s", code, body)
	}
	if feed, _ := api("GET", "/api/v1/events", ""); !strings.Contains(feed, `"type":"expiry_changed"`) {
		t.Errorf("the feed has no expiry_changed: %s", feed)
	}

	// The staff web's doors, as a script without JavaScript uses them: the
	// answer and its file on the message's page, the expiry form.
	out, err = exec.Command(python, "-c", staffWebLifecycle, base, config.DevAccount, devPassword, m.ID).CombinedOutput()
	var seen struct {
		Login, File, Expiry, Fault []any
		Page, After                string
	}
	if err != nil || json.Unmarshal(out, &seen) != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if seen.Login[0] != 303.0 || !strings.Contains(seen.Page, answer) || !strings.Contains(seen.Page, "remiss.txt</a> (14 B)") {
		t.Errorf("the staff web's message page: %v\n%s", seen.Login, seen.Page)
	}
	if len(seen.File) != 3 || seen.File[0] != 200.0 || seen.File[1] != "attachment; filename=remiss.txt" || seen.File[2] != "remissens text" {
		t.Errorf("the answer's file from the staff web: %v", seen.File)
	}
	if want := m.Created.Add(30 * 24 * time.Hour).Truncate(time.Second); seen.Expiry[0] != 303.0 || !readableUntil(t, link).Equal(want) ||
		!strings.Contains(seen.After, "The lifetime has been changed.") {
		t.Errorf("the staff web's expiry form: %v; the page says %v, want %v", seen.Expiry, readableUntil(t, link), want)
	}
	if body, _ := seen.Fault[1].(string); seen.Fault[0] != 422.0 || !strings.Contains(body, "later than messages are kept here") {
		t.Errorf("the staff web's expiry form past the limit: %v", seen.Fault[0])
	}

	// The person's export holds their answer while it can be opened.
	if out, stderr, code := run(t, "", "gdpr", "export", "-data", data, "199908072391"); code != 0 || !strings.Contains(out, `"text": "`+answer+`"`) {
		t.Errorf("gdpr export: exit %d %s\n%s", code, stderr, out)
	}

	// Shortened to seconds; once passed, the answers are gone and the route says why.
	soon := time.Now().Add(3 * time.Second).Truncate(time.Second)
	if body, code := api("PUT", "/api/v1/messages/"+m.ID+"/expiry", `{"expires": "`+soon.Format(time.RFC3339)+`"}`); code != "200" {
		t.Fatalf("PUT expiry (shorten): %s %s", code, body)
	}
	time.Sleep(time.Until(soon.Add(time.Second)))
	if body, code := api("GET", "/api/v1/messages/"+m.ID+"/replies", ""); code != "410" || !strings.Contains(body, "deleted with its content") {
		t.Errorf("GET replies after the expiry: %s %s", code, body)
	}
}
