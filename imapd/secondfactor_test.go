package imapd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/pquerna/otp/totp"

	"sigill/passkey/passkeytest"
)

func TestDisabledAccountRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.v.SetDisabled(anna, true); err != nil {
		t.Fatal(err)
	}
	refusal(t, "a disabled account", e.dial(nil).Login(anna, annaPass).Wait(), imap.ResponseCodeAuthenticationFailed, "disabled")
	if err := e.v.SetDisabled(anna, false); err != nil {
		t.Fatal(err)
	}
	if err := e.dial(nil).Login(anna, annaPass).Wait(); err != nil {
		t.Errorf("enabled again: %v", err)
	}
}

// With a second factor, TOTP or a passkey, IMAP LOGIN takes only app
// passwords.
func TestSecondFactorWantsAnAppPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		factor string
		enrol  func(t *testing.T, e *env)
	}{
		{"totp", func(t *testing.T, e *env) {
			en, err := e.v.EnrollTOTP(anna)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := totp.GenerateCode(en.Secret, time.Now())
			if _, err := e.v.ConfirmTOTP(anna, code); err != nil {
				t.Fatal(err)
			}
		}},
		{"passkey", func(t *testing.T, e *env) {
			if _, _, _, err := passkeytest.Register(e.v, anna, "Work laptop"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.factor, func(t *testing.T) {
			e := newEnv(t, nil)
			tc.enrol(t, e)
			_, app, err := e.v.CreateAppPassword(anna, "Thunderbird")
			if err != nil {
				t.Fatal(err)
			}
			refusal(t, "the account password with a second factor", e.dial(nil).Login(anna, annaPass).Wait(), imap.ResponseCodeAuthenticationFailed, "app password")
			if err := e.dial(nil).Login(anna, app).Wait(); err != nil {
				t.Errorf("the app password: %v", err)
			}
		})
	}
}

// A session logged in before its account was disabled, or its app password
// revoked, takes no further command: the next one, a NOOP even, gets
// "* BYE" with the reason and the connection closes.
func TestLoginRecheckedAtEachCommand(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	app, secret, err := e.v.CreateAppPassword(anna, "Thunderbird")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password string
		revoke         func() error
		want           string
	}{
		{"password set", annaPass, func() error { return e.v.SetPassword(anna, annaPass) }, "* BYE This account's password or second factor has changed since you logged in"},
		{"second factor reset", secret, func() error { return e.v.ResetSecondFactor(anna) }, "* BYE This account's password or second factor has changed since you logged in"},
		{"app password revoked", secret, func() error { return e.v.RevokeAppPassword(anna, app.ID) }, "* BYE The app password this session logged in with has been revoked"},
		{"account disabled", annaPass, func() error { return e.v.SetDisabled(anna, true) }, "* BYE This account has been disabled since you logged in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dialRaw(10 * time.Second)
			for i, cmd := range []string{`LOGIN "` + anna + `" "` + tc.password + `"`, "SELECT INBOX", "NOOP"} {
				tag := fmt.Sprintf("a%d", i+1)
				if got := c.cmd(tag, cmd); !strings.HasPrefix(got[len(got)-1], tag+" OK") {
					t.Fatalf("%s: %q", cmd, got)
				}
			}
			if err := tc.revoke(); err != nil {
				t.Fatal(err)
			}
			c.send("a4 NOOP")
			if got := c.line(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("NOOP after the change: %q, want %q", got, tc.want)
			}
			if rest, err := c.r.ReadString('\n'); err == nil {
				t.Errorf("the connection stayed open after BYE: %q", rest)
			}
		})
	}
	// The other account's sessions go on.
	c := e.dialRaw(10 * time.Second)
	if got := c.cmd("b1", `LOGIN "`+bo+`" "`+boPass+`"`); !strings.HasPrefix(got[len(got)-1], "b1 OK") {
		t.Fatalf("bo's login: %q", got)
	}
	if got := c.cmd("b2", "NOOP"); !strings.HasPrefix(got[len(got)-1], "b2 OK") {
		t.Errorf("bo's NOOP: %q", got)
	}
}
