package staffweb

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPasswordOnlySignIn: without a second factor (and without
// staff.require_2fa) the password signs in, the start page names the
// account, and sign-out ends the session.
func TestPasswordOnlySignIn(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if a := b.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET / before sign-in: %d → %q", a.status, a.location)
	}
	if a := b.get("/login"); a.status != 200 || !strings.Contains(a.body, `name="password"`) || !strings.Contains(a.body, `<html lang="sv">`) {
		t.Fatalf("GET /login: %d %s", a.status, a.body)
	}
	b.signIn(staffAddr, nil)
	a := b.get("/")
	if a.status != 200 || !strings.Contains(a.body, staffAddr) {
		t.Fatalf("GET / signed in: %d %s", a.status, a.body)
	}
	if a = b.post("/logout", nil); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("POST /logout: %d → %q", a.status, a.location)
	}
	if a = b.get("/"); a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("GET / after sign-out: %d → %q", a.status, a.location)
	}
	if a := b.post("/login", url.Values{"username": {staffAddr}, "password": {"wrong password!"}}); a.status != http.StatusUnauthorized || !strings.Contains(a.body, "Fel e-postadress eller lösenord") || !strings.Contains(a.body, `value="`+staffAddr+`"`) {
		t.Fatalf("wrong password: %d %s", a.status, a.body)
	}
}
