package imapd

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/pquerna/otp/totp"
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

func TestSecondFactorWantsAnAppPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	en, err := e.v.EnrollTOTP(anna)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(en.Secret, time.Now())
	if _, err := e.v.ConfirmTOTP(anna, code); err != nil {
		t.Fatal(err)
	}
	_, app, err := e.v.CreateAppPassword(anna, "Thunderbird")
	if err != nil {
		t.Fatal(err)
	}
	refusal(t, "the account password with a second factor", e.dial(nil).Login(anna, annaPass).Wait(), imap.ResponseCodeAuthenticationFailed, "app password")
	if err := e.dial(nil).Login(anna, app).Wait(); err != nil {
		t.Errorf("the app password: %v", err)
	}
}
