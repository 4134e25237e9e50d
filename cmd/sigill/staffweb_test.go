package main

import (
	"os/exec"
	"strings"
	"testing"

	"sigill/config"
	"sigill/internal/testenv"
)

// staffWebClient is staff-web.md's form contract as a script posts it:
// Python's urllib, a cookie jar, redirects not followed (each answer is
// printed as "step status location"), and TOTP computed from the secret
// with hmac (RFC 6238: SHA-1, 6 digits, 30 s), nothing from pip.
const staffWebClient = `
import base64, re, hashlib, hmac, http.cookiejar, struct, sys, time, urllib.error, urllib.parse, urllib.request

base, user, password = sys.argv[1], sys.argv[2], sys.argv[3]

def totp(secret, at):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    o = digest[-1] & 15
    return "%06d" % ((struct.unpack(">I", digest[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None

def browser():
    jar = http.cookiejar.CookieJar()
    return jar, urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

def call(opener, step, path, form=None, headers={}):
    data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
    req = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        resp = opener.open(req, timeout=30)
        status, location, body = resp.status, resp.headers.get("Location", ""), resp.read().decode()
    except urllib.error.HTTPError as e:
        status, location, body = e.code, e.headers.get("Location", ""), e.read().decode()
    print(step, status, location)
    return body

def session(jar):
    return [c.value for c in jar if c.name == "sigill-staff"]

jar, b = browser()
call(b, "get-login", "/login")
call(b, "login", "/login", {"username": user, "password": password})
body = call(b, "account", "/account")
print("account-names-user", user in body)

# The README's first steps: enrol TOTP on the account page.
body = call(b, "enrol", "/account/totp", {})
secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body).group(1).replace(" ", "")
print("qr-shown", "<svg" in body)
body = call(b, "confirm-wrong", "/account/totp/confirm", {"code": totp(secret, time.time() - 300)})
body = call(b, "confirm", "/account/totp/confirm", {"code": totp(secret, time.time())})
print("recovery-codes", len(re.findall(r"<li>[A-Z2-7]{5}-[A-Z2-7]{5}</li>", body)))
body = call(b, "app-password", "/account/app-passwords", {"name": "Thunderbird"})
print("app-password-shown", 'id="secret"' in body)
call(b, "cross-site", "/account/app-passwords", {"name": "evil"}, {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
call(b, "logout", "/logout", {})
call(b, "after-logout", "/account")

# Signing in now takes the second factor. The confirming code's step is
# used, so the code is the next step's (a code is taken within one step
# either side).
jar, b = browser()
call(b, "login", "/login", {"username": user, "password": password})
halfway = session(jar)
code = totp(secret, time.time() + 30)
call(b, "2fa", "/login/2fa", {"code": code})
print("rotated", len(session(jar)) == 1 and session(jar) != halfway)
call(b, "start", "/")

# The same code again, in a new browser: refused even inside its window.
jar2, c = browser()
call(c, "login-again", "/login", {"username": user, "password": password})
call(c, "replayed-code", "/login/2fa", {"code": code})
`

// TestStaffWebFormContract posts staff-web.md's sign-in forms to the built
// `sigill dev` from Python's urllib, as the README's first steps go: the
// dev account signs in with its password, enrols TOTP on the account page
// (a wrong code refused, the right one, computed in Python from the shown
// secret, shows the recovery codes), makes an app password, has a
// cross-site POST refused, signs out; then signs in with password and
// code, and the code replayed in another browser is refused.
func TestStaffWebFormContract(t *testing.T) {
	python := testenv.Tool(t, "python3", "python3")
	d := startDev(t, t.TempDir())
	if !strings.Contains(d.banner, "http://localhost:"+strings.TrimPrefix(d.addr(config.DevStaffPort), "127.0.0.1:")+"/") {
		t.Errorf("the banner does not name the staff web at http://localhost:PORT/:\n%s", d.banner)
	}
	out, err := exec.Command(python, "-c", staffWebClient, "http://"+d.addr(config.DevStaffPort), config.DevAccount, devPassword).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	want := `get-login 200 
login 303 /
account 200 
account-names-user True
enrol 200 
qr-shown True
confirm-wrong 401 
confirm 200 
recovery-codes 10
app-password 200 
app-password-shown True
cross-site 403 
logout 303 /login
after-logout 303 /login
login 303 /login/2fa
2fa 303 /
rotated True
start 200 
login-again 303 /login/2fa
replayed-code 401 
`
	if string(out) != want {
		t.Errorf("the form contract from urllib:\n%s\nwant:\n%s", out, want)
	}
	stdout, _, _ := run(t, "", "user", "-data", d.data, "app-password", config.DevAccount, "list")
	if !strings.Contains(stdout, "Thunderbird") || strings.Contains(stdout, "evil") {
		t.Errorf("app passwords after the web made one (and refused a cross-site one): %q", stdout)
	}
}
