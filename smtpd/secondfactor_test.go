package smtpd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/pquerna/otp/totp"

	"sigill/passkey/passkeytest"
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

// With a second factor, TOTP or a passkey (package passkey records it on
// the account), the account password no longer opens SMTP AUTH: an app
// password does. Once the last passkey is removed, the password does again.
func TestSecondFactorWantsAnAppPassword(t *testing.T) {
	for _, tc := range []struct {
		factor string
		enrol  func(t *testing.T, g *gateway) (undo func() error)
	}{
		{"totp", func(t *testing.T, g *gateway) func() error {
			e, err := g.vault.EnrollTOTP(staff)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := totp.GenerateCode(e.Secret, time.Now())
			if _, err := g.vault.ConfirmTOTP(staff, code); err != nil {
				t.Fatal(err)
			}
			return nil
		}},
		{"passkey", func(t *testing.T, g *gateway) func() error {
			_, passkeys, pk, err := passkeytest.Register(g.vault, staff, "Work laptop")
			if err != nil {
				t.Fatal(err)
			}
			return func() error { return passkeys.Remove(context.Background(), staff, pk.ID) }
		}},
	} {
		t.Run(tc.factor, func(t *testing.T) {
			g := startGateway(t)
			undo := tc.enrol(t, g)
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
			if undo == nil {
				return
			}
			if err := undo(); err != nil {
				t.Fatal(err)
			}
			if _, err := submit(t, g.submission, sasl.NewPlainClient("", staff, staffPass), staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine)); err != nil {
				t.Errorf("the account password once the second factor is gone: %v", err)
			}
		})
	}
}

// A session logged in before its account was disabled, or its app password
// revoked, sends nothing more: the next MAIL gets 421 and the connection
// closes (the client keeps the message; its next AUTH says why).
func TestLoginRecheckedAtEachTransaction(t *testing.T) {
	g := startGateway(t)
	_, app, err := g.vault.CreateAppPassword(staff, "Outlook")
	if err != nil {
		t.Fatal(err)
	}
	apps, _ := g.vault.AppPasswords(staff)
	for _, tc := range []struct {
		name     string
		password string
		revoke   func() error
		undo     func() error
		want     string
	}{
		{"account disabled", staffPass,
			func() error { return g.vault.SetDisabled(staff, true) },
			func() error { return g.vault.SetDisabled(staff, false) }, "disabled"},
		{"password set", staffPass,
			func() error { return g.vault.SetPassword(staff, staffPass) }, nil, "password or second factor has changed"},
		{"second factor reset", app,
			func() error { return g.vault.ResetSecondFactor(staff) }, nil, "password or second factor has changed"},
		{"app password revoked", app,
			func() error { return g.vault.RevokeAppPassword(staff, apps[0].ID) }, nil, "app password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(g.submission, clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", staff, tc.password)); err != nil {
				t.Fatal(err)
			}
			if _, err := send(c, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine)); err != nil {
				t.Fatalf("first message: %v", err)
			}
			if err := tc.revoke(); err != nil {
				t.Fatal(err)
			}
			if tc.undo != nil {
				defer tc.undo()
			}
			_, err = send(c, staff, []string{goodRcpt}, plainMessage(testSubject, testBodyLine))
			wantCode(t, err, 421, smtp.EnhancedCode{4, 7, 0}, tc.want)
			if err := c.Noop(); err == nil {
				t.Error("the connection took a command after the 421")
			}
		})
	}
}
