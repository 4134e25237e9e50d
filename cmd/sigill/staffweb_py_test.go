package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"sigill/config"
	"sigill/internal/testenv"
)

// staffWebPython drives the staff web's form contract (staff-web.md) with
// plain HTTP from Python's urllib, as a script without JavaScript would:
// sign in, send (multipart, with an attachment), a form with faults, the
// sent log and its CSV, withdraw, the message page. It prints one JSON
// object of what it saw.
const staffWebPython = `
import http.cookiejar, json, sys, urllib.parse, urllib.request, urllib.error, uuid
base, user, password = sys.argv[1:4]

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

def call(method, path, data=None, headers={}):
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        resp = opener.open(req)
    except urllib.error.HTTPError as e:
        resp = e
    return resp.status, resp.headers.get("Location", ""), resp.read().decode()

def form(path, fields):
    return call("POST", path, urllib.parse.urlencode(fields).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"})

def multipart(path, fields, files):
    b = uuid.uuid4().hex
    out = b""
    for k, v in fields:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (b, k, v)).encode()
    for name, ctype, content in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n" % (b, name, ctype)).encode() + content + b"\r\n"
    out += ("--%s--\r\n" % b).encode()
    return call("POST", path, out, {"Content-Type": "multipart/form-data; boundary=" + b})

seen = {}
seen["login"] = form("/login?lang=en", [("username", user), ("password", password)])[:2]
seen["send"] = multipart("/send", [("recipients", "0701234567 199908072391\nanna.svensson@example.com *"),
    ("subject", "Provsvar"), ("body", "Hej! Ditt provsvar är klart."), ("lang", "sv"), ("exp", "7d")],
    [("svar.pdf", "application/pdf", b"%PDF-1.4 provsvar")])[:2]
seen["fault"] = multipart("/send", [("recipients", "0701234567 199908072392"), ("subject", "Svar 19990807-2391"),
    ("body", "x"), ("lang", "sv")], [])
msg = seen["send"][1]
seen["log"] = call("GET", "/messages?q=prov")[2]
seen["csv"] = call("GET", "/messages.csv")[2]
seen["revoke"] = form(msg + "/revoke", [("recipient", "1")])[:2]
seen["page"] = call("GET", msg)[2]
seen["logout"] = form("/logout", [])[:2]
seen["after"] = call("GET", "/messages")[:2]
print(json.dumps(seen))
`

func TestStaffWebWithoutJavaScript(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	d := startDev(t, t.TempDir())
	out, err := exec.Command(python, "-c", staffWebPython, "http://"+d.addr(config.DevStaffPort), config.DevAccount, devPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var seen struct {
		Login, Send, Revoke, Logout, After []any
		Fault                              []any
		Log, CSV, Page                     string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if seen.Login[0] != 303.0 || seen.Login[1] != "/" {
		t.Errorf("POST /login: %v", seen.Login)
	}
	msg, _ := seen.Send[1].(string)
	if seen.Send[0] != 303.0 || !strings.HasPrefix(msg, "/messages/") {
		t.Fatalf("POST /send: %v", seen.Send)
	}
	if body, _ := seen.Fault[2].(string); seen.Fault[0] != 422.0 || !strings.Contains(body, "login=199908072392 has a wrong check digit") ||
		!strings.Contains(body, "19990807-****") || !strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, `value="Svar 19990807-2391"`) {
		t.Errorf("POST /send with faults: %v %.300s", seen.Fault[0], body)
	}
	if !strings.Contains(seen.Log, ">Provsvar</a>") || strings.Count(seen.Log, "Not read (") != 2 {
		t.Errorf("GET /messages: %s", seen.Log)
	}
	id := strings.TrimPrefix(msg, "/messages/")
	if lines := strings.Split(strings.TrimSpace(seen.CSV), "\n"); len(lines) != 3 || !strings.Contains(lines[1], id+",Provsvar,0,sms,+46701234567,") ||
		!strings.Contains(lines[2], id+",Provsvar,1,email,anna.svensson@example.com,") {
		t.Errorf("GET /messages.csv: %q", seen.CSV)
	}
	if seen.Revoke[0] != 303.0 || seen.Revoke[1] != msg {
		t.Errorf("POST revoke: %v", seen.Revoke)
	}
	if !strings.Contains(seen.Page, `data-status="revoked" aria-live="polite">Withdrawn</dd>`) {
		t.Errorf("GET %s after withdrawing: %s", msg, seen.Page)
	}
	if seen.Logout[0] != 303.0 || seen.Logout[1] != "/login" || seen.After[0] != 303.0 || seen.After[1] != "/login" {
		t.Errorf("sign out %v, then GET /messages %v", seen.Logout, seen.After)
	}
}
