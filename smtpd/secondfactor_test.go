package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/pquerna/otp/totp"
)

// A disabled account cannot log in, and says so once its password was right.
func TestDisabledAccountRefused(t *testing.T) {
	g := startGateway(t)
	if err := g.vault.SetDisabled(staff, true); err != nil {
		t.Fatal(err)
	}
	_, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err == nil || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("a disabled account's login: %v; want 535 naming it disabled", err)
	}
	if err := g.vault.SetDisabled(staff, false); err != nil {
		t.Fatal(err)
	}
	if _, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine)); err != nil {
		t.Errorf("enabled again: %v", err)
	}
}

// With a second factor, the account password no longer opens SMTP AUTH:
// an app password does.
func TestSecondFactorWantsAnAppPassword(t *testing.T) {
	g := startGateway(t)
	e, err := g.vault.EnrollTOTP(staff)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, time.Now())
	if _, err := g.vault.ConfirmTOTP(staff, code); err != nil {
		t.Fatal(err)
	}
	_, app, err := g.vault.CreateAppPassword(staff, "Outlook")
	if err != nil {
		t.Fatal(err)
	}
	_, err = submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err == nil || !strings.Contains(err.Error(), "535") || !strings.Contains(err.Error(), "app password") {
		t.Fatalf("the account password with a second factor: %v; want 535 asking for an app password", err)
	}
	text, err := submit(t, g.submission, sasl.NewLoginClient(staff, app), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
	if err != nil {
		t.Fatalf("the app password: %v", err)
	}
	queuedID(t, g, text)
}
