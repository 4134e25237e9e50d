// Package staffauth owns the staff web's sign-in checks: the account
// password, then the second factor (a TOTP code or a recovery code), every
// try through the same authgate.Gate as SMTP submission and IMAP, so that a
// guesser gains nothing by switching doors, and wrong codes are throttled
// like wrong passwords. The records (the sealed TOTP secret, the last used
// time step, the hashed recovery codes) and their rules are the vault's
// (vault/secondfactor.go); this package adds only the throttle.
package staffauth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"sigill/internal/authgate"
	"sigill/passkey"
	"sigill/vault"
)

// protocol labels the gate's metrics for the staff web.
const protocol = "web"

// ErrThrottled: the address (or the account) used up its tries; the code
// or password was not looked at.
var ErrThrottled = errors.New("too many failed sign-ins; wait a few minutes")

// Checker checks sign-ins against Vault through Gate.
type Checker struct {
	Vault *vault.Vault
	Gate  *authgate.Gate
}

// Password checks an account's own password (not an app password), the
// first step of a sign-in. Its errors are vault's (ErrBadCredentials,
// ErrAccountDisabled) or ErrThrottled.
func (c Checker) Password(ip netip.Addr, address, password string) (vault.Account, error) {
	var acct vault.Account
	err := c.try(ip, address, func() (err error) {
		acct, err = c.Vault.CheckPassword(address, password)
		return err
	})
	return acct, err
}

// SecondFactor checks the second step of a sign-in: code is a six-digit
// TOTP code, anything else a recovery code (used up if right).
// vault.ErrBadCredentials for a wrong, replayed or used code,
// vault.ErrAccountDisabled for a disabled account, or ErrThrottled.
func (c Checker) SecondFactor(ip netip.Addr, address, code string) error {
	code = strings.TrimSpace(code)
	return c.try(ip, address, func() error {
		if isTOTPCode(code) {
			return c.Vault.VerifyTOTP(address, code)
		}
		return c.Vault.UseRecoveryCode(address, code)
	})
}

// Passkey checks a passkey's answer (finish: passkey.Service.FinishLogin)
// as one try at the gate, and returns the account it signs in. account is
// the one whose sign-in is half-way (its password given), or "" for a
// passkey alone, whose account nobody named: that try counts against the
// client's address (the bucket its password tries drain too) and not
// against an account a guesser could lock. Its errors are passkey's
// (ErrRefused, ErrNoCeremony), vault.ErrAccountDisabled or ErrThrottled.
func (c Checker) Passkey(ip netip.Addr, account string, finish func() (vault.Account, error)) (vault.Account, error) {
	if account == "" {
		account = "passkey from " + ip.String()
	}
	var acct vault.Account
	err := c.try(ip, account, func() (err error) {
		acct, err = finish()
		return err
	})
	return acct, err
}

// try runs check as one try at the gate: a wrong answer keeps the try's
// tokens spent, a right one gives them back, a store fault abandons it.
func (c Checker) try(ip netip.Addr, address string, check func() error) error {
	t := c.Gate.Try(ip, address)
	if t == nil {
		authgate.CountThrottled(protocol)
		return ErrThrottled
	}
	err := check()
	switch {
	case err == nil:
		t.Succeeded()
	case errors.Is(err, vault.ErrBadCredentials) || errors.Is(err, vault.ErrAccountDisabled) || errors.Is(err, vault.ErrNotFound) ||
		errors.Is(err, passkey.ErrRefused) || errors.Is(err, passkey.ErrNoCeremony):
		authgate.CountFailure(protocol)
		t.Failed()
		if errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("staffauth: %w", vault.ErrBadCredentials) // an unknown account answers as a wrong code
		}
	default:
		t.Abandoned()
	}
	return err
}

func isTOTPCode(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ConfirmTOTP makes a pending TOTP enrolment active (vault.ConfirmTOTP)
// as one try at the gate: a wrong code at enrolment is throttled like any
// other. It returns the first recovery codes.
func (c Checker) ConfirmTOTP(ip netip.Addr, address, code string) ([]string, error) {
	var codes []string
	err := c.try(ip, address, func() (err error) {
		codes, err = c.Vault.ConfirmTOTP(address, strings.TrimSpace(code))
		return err
	})
	return codes, err
}
