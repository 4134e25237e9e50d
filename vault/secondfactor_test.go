package vault

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

const (
	staffAddr = "anna.berg@kommun.example.se"
	staffPW   = "första lösenordet"
)

func staffVault(t *testing.T, mod func(*Options)) (*Vault, Options, interface {
	Now() time.Time
	Advance(time.Duration)
}) {
	t.Helper()
	c := newClock()
	v, o := openTest(t, func(o *Options) {
		o.Now = c.Now
		if mod != nil {
			mod(o)
		}
	})
	if err := v.AddAccount(staffAddr, staffPW); err != nil {
		t.Fatal(err)
	}
	return v, o, c
}

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totpOptions)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrolled gives staffAddr an active TOTP; it returns the secret and the
// recovery codes.
func enrolled(t *testing.T, v *Vault, now time.Time) (string, []string) {
	t.Helper()
	e, err := v.EnrollTOTP(staffAddr)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := v.ConfirmTOTP(staffAddr, codeAt(t, e.Secret, now))
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret, codes
}

func TestTOTPEnrolmentNeedsAValidCode(t *testing.T) {
	v, _, c := staffVault(t, nil)
	e, err := v.EnrollTOTP(staffAddr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, "secret="+e.Secret) {
		t.Errorf("URI %q", e.URI)
	}
	acct, _ := v.Account(staffAddr)
	if acct.SecondFactor != "" || !acct.TOTPPending {
		t.Errorf("before confirmation: %+v", acct)
	}
	if err := v.VerifyTOTP(staffAddr, codeAt(t, e.Secret, c.Now())); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a pending enrolment verified a code: %v", err)
	}
	if _, err := v.Authenticate(staffAddr, staffPW); err != nil {
		t.Errorf("a pending enrolment already stops the password: %v", err)
	}
	if _, err := v.ConfirmTOTP(staffAddr, "000000"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("confirmed with a wrong code: %v", err)
	}
	stale := codeAt(t, e.Secret, c.Now().Add(-2*time.Minute))
	if _, err := v.ConfirmTOTP(staffAddr, stale); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("confirmed with a code four steps old: %v", err)
	}
	if acct, _ := v.Account(staffAddr); acct.SecondFactor != "" {
		t.Fatalf("active after wrong codes: %+v", acct)
	}
	codes, err := v.ConfirmTOTP(staffAddr, codeAt(t, e.Secret, c.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Errorf("%d recovery codes", len(codes))
	}
	acct, _ = v.Account(staffAddr)
	if acct.SecondFactor != "totp" || acct.TOTPPending || acct.RecoveryCodes != RecoveryCodeCount {
		t.Errorf("after confirmation: %+v", acct)
	}
	if _, err := v.EnrollTOTP(staffAddr); !errors.Is(err, ErrExists) {
		t.Errorf("a second enrolment over an active one: %v", err)
	}
	if _, err := v.ConfirmTOTP(staffAddr, codeAt(t, e.Secret, c.Now().Add(30*time.Second))); !errors.Is(err, ErrNoSecondFactor) {
		t.Errorf("confirm with nothing pending: %v", err)
	}
}

func TestTOTPCodeIsUsedOnce(t *testing.T) {
	v, _, c := staffVault(t, nil)
	secret, _ := enrolled(t, v, c.Now()) // the confirming code used the current step
	now := c.Now()
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, now)); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the confirming code, replayed in its window: %v", err)
	}
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, now.Add(-30*time.Second))); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a code of the step before the last used one: %v", err)
	}
	next := codeAt(t, secret, now.Add(30*time.Second)) // +1 step: a phone's clock a little ahead
	if err := v.VerifyTOTP(staffAddr, next); err != nil {
		t.Fatalf("a code one step ahead: %v", err)
	}
	if err := v.VerifyTOTP(staffAddr, next); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("the same code again: %v", err)
	}
	c.Advance(90 * time.Second) // three steps on: the code one step behind is in the window
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now().Add(-30*time.Second))); err != nil {
		t.Errorf("a code one step behind, later than the last used: %v", err)
	}
	c.Advance(2 * time.Minute)
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now().Add(-time.Minute))); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a code two steps old: %v", err)
	}
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now())); err != nil {
		t.Errorf("the current code: %v", err)
	}
	if err := v.VerifyTOTP("nobody@kommun.example.se", "123456"); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown account: %v", err)
	}
}

func TestRecoveryCodeIsUsedOnce(t *testing.T) {
	v, _, c := staffVault(t, nil)
	_, codes := enrolled(t, v, c.Now())
	if err := v.UseRecoveryCode(staffAddr, strings.ToLower(codes[3])); err != nil {
		t.Fatalf("a recovery code in lower case: %v", err)
	}
	if err := v.UseRecoveryCode(staffAddr, codes[3]); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a recovery code used twice: %v", err)
	}
	if acct, _ := v.Account(staffAddr); acct.RecoveryCodes != RecoveryCodeCount-1 {
		t.Errorf("%d codes left; want %d", acct.RecoveryCodes, RecoveryCodeCount-1)
	}
	fresh, err := v.RegenerateRecoveryCodes(staffAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.UseRecoveryCode(staffAddr, codes[0]); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an old code after regenerating: %v", err)
	}
	if err := v.UseRecoveryCode(staffAddr, fresh[0]); err != nil {
		t.Errorf("a new code: %v", err)
	}
	if err := v.ResetSecondFactor(staffAddr); err != nil {
		t.Fatal(err)
	}
	if err := v.UseRecoveryCode(staffAddr, fresh[1]); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a code after the reset: %v", err)
	}
	if acct, _ := v.Account(staffAddr); acct.SecondFactor != "" || acct.RecoveryCodes != 0 {
		t.Errorf("after reset: %+v", acct)
	}
	if _, err := v.Authenticate(staffAddr, staffPW); err != nil {
		t.Errorf("the password after a reset: %v", err)
	}
}

func TestAppPasswordsWithSecondFactor(t *testing.T) {
	v, _, c := staffVault(t, nil)
	app, secret, err := v.CreateAppPassword(staffAddr, "Thunderbird på jobbet")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.CreateAppPassword(staffAddr, "thunderbird PÅ jobbet"); !errors.Is(err, ErrExists) && err == nil {
		t.Errorf("a second app password of the same name: %v", err)
	}
	if _, err := v.Authenticate(staffAddr, staffPW); err != nil {
		t.Errorf("without a second factor the password still opens: %v", err)
	}
	enrolled(t, v, c.Now())
	if _, err := v.Authenticate(staffAddr, staffPW); !errors.Is(err, ErrAppPasswordRequired) {
		t.Errorf("the account password with a second factor: %v", err)
	}
	if _, err := v.Authenticate(staffAddr, "fel lösenord"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a wrong password: %v", err)
	}
	before := argonRuns.Load()
	c.Advance(time.Hour)
	acct, err := v.Authenticate(strings.ToUpper(staffAddr), secret)
	if err != nil || acct.Address != staffAddr {
		t.Fatalf("the app password: %+v, %v", acct, err)
	}
	if n := argonRuns.Load() - before; n != 1 {
		t.Errorf("an app password login cost %d argon2id runs; want 1 like any other", n)
	}
	list, err := v.AppPasswords(staffAddr)
	if err != nil || len(list) != 1 || list[0].ID != app.ID || !list[0].LastUsed.Equal(c.Now().UTC()) {
		t.Errorf("listed: %+v, %v; want last use %v", list, err, c.Now())
	}
	if _, err := v.CheckPassword(staffAddr, staffPW); err != nil {
		t.Errorf("the staff web's first step takes the account password with a second factor: %v", err)
	}
	if _, err := v.CheckPassword(staffAddr, secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an app password at the staff web's sign-in: %v", err)
	}
	if err := v.RevokeAppPassword(staffAddr, app.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(staffAddr, secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a revoked app password: %v", err)
	}
	if err := v.RevokeAppPassword(staffAddr, app.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
}

func TestRequireSecondFactor(t *testing.T) {
	v, _, _ := staffVault(t, func(o *Options) { o.RequireSecondFactor = true })
	if _, err := v.Authenticate(staffAddr, staffPW); !errors.Is(err, ErrAppPasswordRequired) {
		t.Errorf("the account password under RequireSecondFactor: %v", err)
	}
	_, secret, err := v.CreateAppPassword(staffAddr, "telefon")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(staffAddr, secret); err != nil {
		t.Errorf("an app password under RequireSecondFactor: %v", err)
	}
}

func TestDisabledAccountLogsInNowhere(t *testing.T) {
	v, _, _ := staffVault(t, nil)
	_, secret, err := v.CreateAppPassword(staffAddr, "telefon")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetDisabled(staffAddr, true); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{staffPW, secret} {
		if _, err := v.Authenticate(staffAddr, pw); !errors.Is(err, ErrAccountDisabled) {
			t.Errorf("a disabled account logged in: %v", err)
		}
	}
	if _, err := v.CheckPassword(staffAddr, staffPW); !errors.Is(err, ErrAccountDisabled) {
		t.Errorf("a disabled account passed the staff web's password step: %v", err)
	}
	if _, err := v.Authenticate(staffAddr, "fel lösenord"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a wrong password tells the account is disabled: %v", err)
	}
	err = v.View(nil, func(tx Tx) error {
		acct, err := tx.Account(strings.ToUpper(staffAddr))
		if err == nil && !acct.Disabled {
			t.Errorf("Tx.Account: %+v", acct)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.SetDisabled(staffAddr, false); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Authenticate(staffAddr, staffPW); err != nil {
		t.Errorf("enabled again: %v", err)
	}
	if err := v.SetDisabled("nobody@kommun.example.se", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("disable an unknown account: %v", err)
	}
	if err := v.AddAdmin("chef@kommun.example.se", "ett långt lösenord"); err != nil {
		t.Fatal(err)
	}
	if acct, _ := v.Account("chef@kommun.example.se"); !acct.Admin {
		t.Errorf("AddAdmin: %+v", acct)
	}
}

// The TOTP secret is sealed in the file; it opens after a reopen with the
// key file.
func TestTOTPSecretIsNotInTheFile(t *testing.T) {
	boltOnly(t, "reads the bbolt file")
	v, o, c := staffVault(t, nil)
	secret, _ := enrolled(t, v, c.Now())
	v = reopen(t, v, o)
	raw, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(o.Path + LogSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(log, []byte(secret)) {
		t.Error("the TOTP secret is in the vault file or its log in clear")
	}
	c.Advance(time.Minute)
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now())); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

// A disabled account's second factor opens nothing, and trying a recovery
// code on it does not use the code up.
func TestDisabledAccountSecondFactorRefused(t *testing.T) {
	v, _, c := staffVault(t, nil)
	secret, codes := enrolled(t, v, c.Now())
	c.Advance(time.Minute)
	if err := v.SetDisabled(staffAddr, true); err != nil {
		t.Fatal(err)
	}
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now())); !errors.Is(err, ErrAccountDisabled) {
		t.Errorf("VerifyTOTP on a disabled account = %v, want ErrAccountDisabled", err)
	}
	if err := v.UseRecoveryCode(staffAddr, codes[0]); !errors.Is(err, ErrAccountDisabled) {
		t.Errorf("UseRecoveryCode on a disabled account = %v, want ErrAccountDisabled", err)
	}
	if err := v.SetDisabled(staffAddr, false); err != nil {
		t.Fatal(err)
	}
	if err := v.UseRecoveryCode(staffAddr, codes[0]); err != nil {
		t.Errorf("the recovery code tried while disabled was used up: %v", err)
	}
	if err := v.VerifyTOTP(staffAddr, codeAt(t, secret, c.Now())); err != nil {
		t.Errorf("VerifyTOTP once enabled again: %v", err)
	}
}

// StillValid is what ends a session whose login no longer holds.
func TestStillValid(t *testing.T) {
	v, _, _ := staffVault(t, nil)
	byPassword, err := v.Authenticate(staffAddr, staffPW)
	if err != nil {
		t.Fatal(err)
	}
	if byPassword.LoginAppPassword != "" {
		t.Errorf("a password login names app password %q", byPassword.LoginAppPassword)
	}
	phone, secret, err := v.CreateAppPassword(staffAddr, "phone")
	if err != nil {
		t.Fatal(err)
	}
	byApp, err := v.Authenticate(staffAddr, secret)
	if err != nil {
		t.Fatal(err)
	}
	if byApp.LoginAppPassword != phone.ID {
		t.Fatalf("an app password login names %q, want %q", byApp.LoginAppPassword, phone.ID)
	}
	for _, login := range []Account{byPassword, byApp} {
		if err := v.StillValid(login); err != nil {
			t.Errorf("StillValid(%+v) = %v right after login", login, err)
		}
	}
	if err := v.RevokeAppPassword(staffAddr, phone.ID); err != nil {
		t.Fatal(err)
	}
	if err := v.StillValid(byApp); !errors.Is(err, ErrAppPasswordRevoked) {
		t.Errorf("StillValid after revoking its app password = %v, want ErrAppPasswordRevoked", err)
	}
	if err := v.StillValid(byPassword); err != nil {
		t.Errorf("revoking an app password ended a password login: %v", err)
	}
	if err := v.SetDisabled(staffAddr, true); err != nil {
		t.Fatal(err)
	}
	if err := v.StillValid(byPassword); !errors.Is(err, ErrAccountDisabled) {
		t.Errorf("StillValid of a disabled account = %v, want ErrAccountDisabled", err)
	}
	if err := v.RemoveAccount(staffAddr); err != nil {
		t.Fatal(err)
	}
	if err := v.StillValid(byPassword); !errors.Is(err, ErrNotFound) {
		t.Errorf("StillValid of a removed account = %v, want ErrNotFound", err)
	}
}
