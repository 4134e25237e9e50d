package staffweb

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigill/apikey"
	"sigill/passkey"
)

var reShownSecret = regexp.MustCompile(`id="secret">([^<]+)<`)

// TestChangePassword: the current password is asked for (through the
// gate), the new one typed twice; the change ends the account's other
// sessions but not this one, and the new password signs in.
func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	b, other := e.browser(), e.browser()
	b.signIn(staffAddr, nil)
	other.signIn(staffAddr, nil)
	newPassword := "correct horse battery staple"
	if a := b.post("/account/password", url.Values{"current_password": {"not it"}, "new_password": {newPassword}, "new_password2": {newPassword}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="current_password-error"`) {
		t.Fatalf("wrong current password: %d", a.status)
	}
	if a := b.post("/account/password", url.Values{"current_password": {staffPassword}, "new_password": {newPassword}, "new_password2": {newPassword + "x"}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="new_password2-error"`) {
		t.Fatalf("passwords that differ: %d", a.status)
	}
	if _, err := e.v.CheckPassword(staffAddr, staffPassword); err != nil {
		t.Fatal("a refused change changed the password")
	}
	a := b.post("/account/password", url.Values{"current_password": {staffPassword}, "new_password": {newPassword}, "new_password2": {newPassword}})
	if a.status != http.StatusSeeOther || a.location != "/account" {
		t.Fatalf("change: %d → %q", a.status, a.location)
	}
	if a := b.get("/account"); a.status != 200 || !strings.Contains(a.body, "Lösenordet är bytt") {
		t.Fatalf("after the change: %d, no notice", a.status)
	}
	if a := other.get("/account"); a.status != http.StatusSeeOther {
		t.Fatalf("the other session outlived the change: %d", a.status)
	}
	if _, err := e.v.CheckPassword(staffAddr, newPassword); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

// TestAccountTOTP: enrolment on the account page takes effect only with
// a valid code, shows ten recovery codes once, and the reset (with the
// password) removes it; new recovery codes replace the old.
func TestAccountTOTP(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	a := b.post("/account/totp", nil)
	m := reSecret.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		t.Fatalf("POST /account/totp: %d", a.status)
	}
	if a := b.post("/account/totp/confirm", url.Values{"code": {"123456"}}); a.status != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d", a.status)
	}
	if acct, _ := e.v.Account(staffAddr); acct.SecondFactor != "" || !acct.TOTPPending {
		t.Fatalf("after a wrong code: %+v", acct)
	}
	a = b.post("/account/totp/confirm", url.Values{"code": {codeAt(t, m[1], e.clock.Now())}})
	codes := regexp.MustCompile(`<li>([A-Z2-7]{5}-[A-Z2-7]{5})</li>`).FindAllStringSubmatch(a.body, -1)
	if a.status != 200 || len(codes) != 10 {
		t.Fatalf("confirm: %d, %d recovery codes shown", a.status, len(codes))
	}
	if a := b.get("/account"); strings.Contains(a.body, codes[0][1]) || !strings.Contains(a.body, "10 av 10") {
		t.Fatalf("the account page shows a recovery code again, or not the count")
	}
	// The next sign-in asks for a code.
	c := e.browser()
	e.clock.Advance(30 * time.Second)
	c.signIn(staffAddr, func() string { return codeAt(t, m[1], e.clock.Now()) })

	a = b.post("/account/recovery-codes", nil)
	fresh := regexp.MustCompile(`<li>([A-Z2-7]{5}-[A-Z2-7]{5})</li>`).FindAllStringSubmatch(a.body, -1)
	if len(fresh) != 10 {
		t.Fatalf("new recovery codes: %d shown", len(fresh))
	}
	if err := e.v.UseRecoveryCode(staffAddr, codes[0][1]); err == nil {
		t.Error("an old recovery code still works after new ones were made")
	}

	if a := b.post("/account/totp/reset", url.Values{"current_password": {"wrong"}}); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("reset with a wrong password: %d", a.status)
	}
	if a := b.post("/account/totp/reset", url.Values{"current_password": {staffPassword}}); a.status != http.StatusSeeOther {
		t.Fatalf("reset: %d", a.status)
	}
	if acct, _ := e.v.Account(staffAddr); acct.SecondFactor != "" || acct.RecoveryCodes != 0 {
		t.Fatalf("after reset: %+v", acct)
	}
}

// TestAppPasswords: made with a name and shown once, listed with its last
// use, revoked; another account's id revokes nothing.
func TestAppPasswords(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	a := b.post("/account/app-passwords", url.Values{"name": {"Outlook på jobbet"}})
	m := reShownSecret.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		t.Fatalf("create: %d", a.status)
	}
	e.clock.Advance(20 * time.Minute)
	if _, err := e.v.Authenticate(staffAddr, m[1]); err != nil {
		t.Fatalf("the shown app password does not log in: %v", err)
	}
	a = b.get("/account")
	if !strings.Contains(a.body, "Outlook på jobbet") || strings.Contains(a.body, m[1]) || !strings.Contains(a.body, "28 november 2026 kl. 10:20") {
		t.Fatalf("the list: name, no secret, last use in Swedish time: %d %s", a.status, a.body)
	}
	if a := b.post("/account/app-passwords", url.Values{"name": {"outlook PÅ JOBBET"}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="app_name-error"`) || !strings.Contains(a.body, `value="outlook PÅ JOBBET"`) {
		t.Fatalf("a name given twice: %d", a.status)
	}
	ps, _ := e.v.AppPasswords(staffAddr)

	intruder := e.browser()
	intruder.signIn(adminAddr, nil)
	if a := intruder.post("/account/app-passwords/"+ps[0].ID+"/revoke", nil); a.status != http.StatusNotFound {
		t.Fatalf("another account's app password: %d", a.status)
	}
	if a := b.post("/account/app-passwords/"+ps[0].ID+"/revoke", nil); a.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", a.status)
	}
	if _, err := e.v.Authenticate(staffAddr, m[1]); err == nil {
		t.Fatal("a revoked app password still logs in")
	}
}

// TestAPIKeys: a key made on the page works at the API's check, is listed
// without itself, and is revoked; a staff member cannot give a key
// audit:read, nor revoke another's key.
func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(staffAddr, nil)
	a := b.post("/account/api-keys", url.Values{"name": {"journal"}, "scope": {apikey.ScopeSend, apikey.ScopeRead}})
	m := reShownSecret.FindStringSubmatch(a.body)
	if a.status != 200 || m == nil {
		t.Fatalf("create: %d", a.status)
	}
	k, err := e.keys.Authenticate(m[1])
	if err != nil || k.Account != staffAddr || !k.Allows(apikey.ScopeRead) || k.Allows(apikey.ScopeRevoke) {
		t.Fatalf("the shown key: %+v, %v", k, err)
	}
	if a := b.get("/account"); !strings.Contains(a.body, "journal") || strings.Contains(a.body, m[1]) {
		t.Fatal("the list: no name, or the key itself")
	}
	if a := b.post("/account/api-keys", url.Values{"name": {"audit"}, "scope": {apikey.ScopeAudit}}); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("a staff member's key with audit:read: %d", a.status)
	}
	theirs, _, err := e.keys.Create(context.Background(), adminAddr, "theirs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := b.post("/account/api-keys/"+theirs.ID+"/revoke", nil); a.status != http.StatusNotFound {
		t.Fatalf("revoking another's key: %d", a.status)
	}
	if a := b.post("/account/api-keys/"+k.ID+"/revoke", nil); a.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", a.status)
	}
	if _, err := e.keys.Authenticate(m[1]); err == nil {
		t.Fatal("a revoked key still works")
	}
}

// TestAdminAccounts: only administrators see the page; they add,
// disable, enable and reset others' second factor with the vault's
// operations, and do none of it to themselves.
func TestAdminAccounts(t *testing.T) {
	e := newEnv(t)
	staff := e.browser()
	staff.signIn(staffAddr, nil)
	if a := staff.get("/admin/accounts"); a.status != http.StatusForbidden {
		t.Fatalf("a staff member's GET /admin/accounts: %d", a.status)
	}
	if a := staff.post("/admin/accounts/disable", url.Values{"address": {adminAddr}}); a.status != http.StatusForbidden {
		t.Fatalf("a staff member disabling: %d", a.status)
	}
	if a := staff.get("/"); strings.Contains(a.body, `href="/admin/accounts"`) {
		t.Error("a staff member's menu shows the accounts")
	}

	admin := e.browser()
	admin.signIn(adminAddr, nil)
	if a := admin.get("/"); !strings.Contains(a.body, `href="/admin/accounts"`) {
		t.Error("an administrator's menu lacks the accounts")
	}
	a := admin.get("/admin/accounts")
	if a.status != 200 || !strings.Contains(a.body, staffAddr) {
		t.Fatalf("GET /admin/accounts: %d", a.status)
	}
	if a := admin.post("/admin/accounts", url.Values{"address": {"new@staff.test"}, "password": {"a fine new password"}, "admin": {"1"}}); a.status != http.StatusSeeOther {
		t.Fatalf("add: %d %s", a.status, a.body)
	}
	if acct, err := e.v.Account("new@staff.test"); err != nil || !acct.Admin {
		t.Fatalf("added: %+v, %v", acct, err)
	}
	if a := admin.post("/admin/accounts", url.Values{"address": {"New@staff.test"}, "password": {"x"}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="address-error"`) {
		t.Fatalf("adding an address again: %d", a.status)
	}
	if a := admin.post("/admin/accounts", url.Values{"address": {"not an address"}, "password": {"x"}}); a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, `aria-invalid="true"`) {
		t.Fatalf("adding a bad address: %d", a.status)
	}

	if a := admin.post("/admin/accounts/disable", url.Values{"address": {staffAddr}}); a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d", a.status)
	}
	if a := staff.get("/"); a.status != http.StatusSeeOther {
		t.Fatalf("the disabled account's session goes on: %d", a.status)
	}
	if a := admin.post("/admin/accounts/enable", url.Values{"address": {staffAddr}}); a.status != http.StatusSeeOther {
		t.Fatalf("enable: %d", a.status)
	}
	if acct, _ := e.v.Account(staffAddr); acct.Disabled {
		t.Fatal("still disabled")
	}

	e.enrolled(staffAddr)
	if a := admin.post("/admin/accounts/reset-2fa", url.Values{"address": {staffAddr}}); a.status != http.StatusSeeOther {
		t.Fatalf("reset: %d", a.status)
	}
	if acct, _ := e.v.Account(staffAddr); acct.SecondFactor != "" {
		t.Fatal("the second factor stayed")
	}
	if a := admin.post("/admin/accounts/disable", url.Values{"address": {adminAddr}}); a.status != http.StatusForbidden {
		t.Fatalf("disabling oneself: %d", a.status)
	}
	if a := admin.post("/admin/accounts/enable", url.Values{"address": {"nobody@staff.test"}}); a.status != http.StatusNotFound {
		t.Fatalf("an unknown account: %d", a.status)
	}
}

// TestCredentialChangesEndSessions: a password set, a second factor reset
// or a disable done outside the web (as `sigill user passwd`, `2fa
// -reset` and `disable` do, on the file or through the admin listener)
// ends the account's staff web sessions, as it ends its SMTP and IMAP
// sessions; a reset on the account page ends the others but not its own.
func TestCredentialChangesEndSessions(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		change func() error
	}{
		{"password set", func() error { return e.v.SetPassword(staffAddr, staffPassword) }},
		{"second factor reset", func() error { return passkey.ResetSecondFactor(e.v, staffAddr) }},
		{"disabled and enabled", func() error {
			if err := e.v.SetDisabled(staffAddr, true); err != nil {
				return err
			}
			return e.v.SetDisabled(staffAddr, false)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.signIn(staffAddr, nil)
			if a := b.get("/account"); a.status != 200 {
				t.Fatalf("signed in: %d", a.status)
			}
			if err := tc.change(); err != nil {
				t.Fatal(err)
			}
			if a := b.get("/account"); a.status != http.StatusSeeOther || a.location != "/login" {
				t.Fatalf("the session after the change: %d → %q, want 303 to /login", a.status, a.location)
			}
			b.signIn(staffAddr, nil)
			if a := b.get("/account"); a.status != 200 {
				t.Fatalf("signed in again: %d", a.status)
			}
		})
	}
	t.Run("own reset on the account page", func(t *testing.T) {
		b, other := e.browser(), e.browser()
		b.signIn(staffAddr, nil)
		other.signIn(staffAddr, nil)
		if a := b.post("/account/totp/reset", url.Values{"current_password": {staffPassword}}); a.status != http.StatusSeeOther {
			t.Fatalf("reset: %d", a.status)
		}
		if a := b.get("/account"); a.status != 200 {
			t.Fatalf("the session that reset: %d", a.status)
		}
		if a := other.get("/account"); a.status != http.StatusSeeOther {
			t.Fatalf("the other session outlived the reset: %d", a.status)
		}
	})
}
