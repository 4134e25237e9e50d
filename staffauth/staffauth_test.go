package staffauth

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"sigill/internal/authgate"
	"sigill/internal/testenv"
	"sigill/passkey"
	"sigill/vault"
)

const (
	staff    = "anna@staff.test"
	password = "anna's long password"
)

var guesser = netip.MustParseAddr("127.0.0.2")

// enrolled is a checker whose gate allows burst tries, over a vault with
// one account that has TOTP; it returns the TOTP secret and the clock.
func enrolled(t *testing.T, burst int) (Checker, string, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := v.AddAccount(staff, password); err != nil {
		t.Fatal(err)
	}
	e, err := v.EnrollTOTP(staff)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, clock.Now())
	if _, err := v.ConfirmTOTP(staff, code); err != nil {
		t.Fatal(err)
	}
	gate := authgate.New(authgate.Limits{Burst: burst, Window: time.Hour})
	gate.Delay = 0
	return Checker{Vault: v, Gate: gate}, e.Secret, clock
}

// Wrong codes use up the gate's tries like wrong passwords: after them even
// the right code is refused without being looked at.
func TestWrongCodesAreThrottled(t *testing.T) {
	c, secret, clock := enrolled(t, 3)
	clock.Advance(time.Minute)
	for i := range 3 {
		if err := c.SecondFactor(guesser, staff, "000000"); !errors.Is(err, vault.ErrBadCredentials) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	right, _ := totp.GenerateCode(secret, clock.Now())
	if err := c.SecondFactor(guesser, staff, right); !errors.Is(err, ErrThrottled) {
		t.Errorf("the right code after three wrong ones with a burst of three: %v; want ErrThrottled", err)
	}
	if _, err := c.Password(guesser, staff, password); !errors.Is(err, ErrThrottled) {
		t.Errorf("the password after the codes used the tries up: %v; want ErrThrottled (one gate)", err)
	}
}

// A right code gives its try back; a replayed one costs one.
func TestRightCodesCostNoTry(t *testing.T) {
	c, secret, clock := enrolled(t, 2)
	for range 4 {
		clock.Advance(30 * time.Second)
		code, _ := totp.GenerateCode(secret, clock.Now())
		if err := c.SecondFactor(guesser, staff, code); err != nil {
			t.Fatalf("a fresh code: %v", err)
		}
		if _, err := c.Password(guesser, staff, password); err != nil {
			t.Fatalf("the password: %v", err)
		}
	}
	code, _ := totp.GenerateCode(secret, clock.Now())
	if err := c.SecondFactor(guesser, staff, code); !errors.Is(err, vault.ErrBadCredentials) {
		t.Errorf("a replayed code: %v", err)
	}
}

func TestRecoveryCodeSignIn(t *testing.T) {
	c, _, _ := enrolled(t, 5)
	codes, err := c.Vault.RegenerateRecoveryCodes(staff)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SecondFactor(guesser, staff, " "+codes[0]+" "); err != nil {
		t.Errorf("a recovery code: %v", err)
	}
	if err := c.SecondFactor(guesser, staff, codes[0]); !errors.Is(err, vault.ErrBadCredentials) {
		t.Errorf("the same recovery code again: %v", err)
	}
	if err := c.SecondFactor(guesser, "nobody@staff.test", "123456"); !errors.Is(err, vault.ErrBadCredentials) {
		t.Errorf("an unknown account: %v", err)
	}
}

// Enrolment's code is a try at the gate too: wrong ones use the tries up,
// and then even the right code does not enrol.
func TestConfirmTOTPIsThrottled(t *testing.T) {
	c, _, clock := enrolled(t, 2)
	if err := c.Vault.ResetSecondFactor(staff); err != nil {
		t.Fatal(err)
	}
	e, err := c.Vault.EnrollTOTP(staff)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.ConfirmTOTP(guesser, staff, "000000"); !errors.Is(err, vault.ErrBadCredentials) {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	right, _ := totp.GenerateCode(e.Secret, clock.Now())
	if _, err := c.ConfirmTOTP(guesser, staff, right); !errors.Is(err, ErrThrottled) {
		t.Fatalf("the right code after two wrong ones with a burst of two: %v; want ErrThrottled", err)
	}
	if acct, _ := c.Vault.Account(staff); acct.SecondFactor != "" {
		t.Fatal("a throttled confirmation enrolled TOTP")
	}
	c.Gate = authgate.New(authgate.Limits{Burst: 2, Window: time.Hour}) // the tries come back in time
	codes, err := c.ConfirmTOTP(guesser, staff, right)
	if err != nil || len(codes) != vault.RecoveryCodeCount {
		t.Fatalf("the right code through a fresh gate: %d codes, %v", len(codes), err)
	}
}

// Refused passkey answers spend the client's tries as wrong passwords do,
// and the gate then refuses its password too; a passkey alone does not
// drain the tries of the account it claims, nor of another address.
func TestRefusedPasskeysAreThrottled(t *testing.T) {
	c, _, _ := enrolled(t, 2)
	refused := func() (vault.Account, error) { return vault.Account{}, fmt.Errorf("finish: %w", passkey.ErrRefused) }
	spent := func() (vault.Account, error) { return vault.Account{}, passkey.ErrNoCeremony }
	if _, err := c.Passkey(guesser, "", refused); !errors.Is(err, passkey.ErrRefused) {
		t.Fatalf("a refused answer: %v", err)
	}
	if _, err := c.Passkey(guesser, "", spent); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("a spent ceremony: %v", err)
	}
	called := false
	if _, err := c.Passkey(guesser, "", func() (vault.Account, error) { called = true; return vault.Account{}, nil }); !errors.Is(err, ErrThrottled) || called {
		t.Errorf("a third answer with a burst of two: %v (looked at: %v); want ErrThrottled unlooked at", err, called)
	}
	if _, err := c.Password(guesser, staff, password); !errors.Is(err, ErrThrottled) {
		t.Errorf("the password after refused passkeys: %v; want ErrThrottled (one gate)", err)
	}
	owner := netip.MustParseAddr("127.0.0.3")
	if _, err := c.Password(owner, staff, password); err != nil {
		t.Errorf("the owner from another address: %v", err)
	}
	if _, err := c.Passkey(owner, staff, func() (vault.Account, error) { return c.Vault.Account(staff) }); err != nil {
		t.Errorf("a passkey accepted as the second factor: %v", err)
	}
}
