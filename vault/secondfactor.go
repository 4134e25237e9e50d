package vault

// The second factor (TOTP, recovery codes) and app passwords of staff
// accounts, kept in the account's own record.
//
// What a copy of the data folder yields:
//
//   - without the key file: nothing of the second factor. The TOTP secret
//     is sealed (AES-256-GCM, the address as associated data) under a key
//     derived from the key file's key; recovery codes and app passwords are
//     stored as HMAC-SHA256 under another key derived from it, so guesses
//     cannot even be tested offline. (The account password's argon2id hash
//     can be, as before.)
//   - with the key file: the TOTP secrets, so codes can be made; the
//     account passwords are still only argon2id hashes, and recovery codes
//     (50 random bits) and app passwords (130 random bits) only keyed
//     hashes of values too random to guess. The key file opens the
//     messages too: it is what must never be copied with the folder.
//
// Recovery codes and app passwords are random, not chosen, so a keyed
// hash protects them as well as argon2id would, and lets a login compare
// one try against all of an account's codes in microseconds (argon2id would
// cost 64 MiB and ~50 ms per stored code).

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

const (
	infoTOTP       = "sigill vault v2: totp secret seal"
	infoAccountMAC = "sigill vault v2: recovery code and app password hash"

	// RecoveryCodeCount is how many recovery codes an account gets at a
	// time; regenerating replaces them all.
	RecoveryCodeCount = 10
	// totpIssuer names sigill in the authenticator app.
	totpIssuer = "sigill"
	// appPasswordUseGranularity: an app password's last use is written at
	// most this often, so that a busy mail client does not cost a write
	// per login.
	appPasswordUseGranularity = time.Minute
)

// totpOptions is RFC 6238 as every authenticator app does it: SHA-1, six
// digits, 30-second steps.
var totpOptions = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var (
	// ErrNoSecondFactor: the account has no (pending) TOTP enrolment for
	// the operation.
	ErrNoSecondFactor = errors.New("no second factor enrolled")
)

// accountSecrets are the keys derived from the key file for account
// secrets.
type accountSecrets struct {
	totp interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
	macKey []byte
}

func deriveAccountSecrets(fileKey []byte) (*accountSecrets, error) {
	aead, err := derivedAEAD(fileKey, infoTOTP)
	if err != nil {
		return nil, err
	}
	mac, err := hkdf.Key(sha256.New, fileKey, nil, infoAccountMAC, 32)
	if err != nil {
		return nil, err
	}
	return &accountSecrets{totp: aead, macKey: mac}, nil
}

// hash is the keyed hash of a recovery code or app password, normalised
// (see normalizeCode).
func (s *accountSecrets) hash(secret string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(normalizeCode(secret)))
	return m.Sum(nil)
}

// normalizeCode forgives what people add when they type a code: spaces,
// dashes, lower case.
func normalizeCode(s string) string {
	return strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
}

func (s *accountSecrets) sealTOTP(address, secret string) []byte {
	nonce := randomBytes(s.totp.NonceSize())
	return s.totp.Seal(nonce, nonce, []byte(secret), []byte(address))
}

func (s *accountSecrets) openTOTP(address string, sealed []byte) (string, error) {
	n := s.totp.NonceSize()
	if len(sealed) < n {
		return "", errors.New("sealed TOTP secret too short")
	}
	plain, err := s.totp.Open(nil, sealed[:n], sealed[n:], []byte(address))
	if err != nil {
		return "", fmt.Errorf("TOTP secret does not open with this key file: %w", ErrKeyMismatch)
	}
	return string(plain), nil
}

// totpRecord is an account's TOTP enrolment.
type totpRecord struct {
	Sealed []byte    `json:"sealed"` // nonce ‖ AES-GCM(base32 secret), address as associated data
	Active bool      `json:"active"` // false until a first valid code confirmed it
	Since  time.Time `json:"since"`
	// LastStep is the time step (Unix time / 30 s) of the last code
	// accepted: a code is taken only for a later step, so each is used
	// once, and none from before one already used.
	LastStep int64 `json:"last_step"`
}

type appPasswordRecord struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Hash     []byte    `json:"hash"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// AppPassword is one of an account's app passwords, as listed.
type AppPassword struct {
	ID       string
	Name     string
	Created  time.Time
	LastUsed time.Time // zero: never used; written to the minute
}

// TOTPEnrolment is what an enrolment hands the user: the secret and the
// otpauth:// URI an authenticator app scans.
type TOTPEnrolment struct {
	Secret string
	URI    string
}

// EnrollTOTP starts a TOTP enrolment: a new secret, stored sealed, that
// takes effect once ConfirmTOTP saw a valid code from it. A pending
// enrolment is replaced; ErrExists when TOTP is already active (reset it
// first).
func (v *Vault) EnrollTOTP(address string) (TOTPEnrolment, error) {
	a := strings.ToLower(address)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: a, Rand: rand.Reader})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("vault: enrol TOTP for %s: %w", a, err)
	}
	sealed := v.secrets.sealTOTP(a, key.Secret())
	err = v.changeAccount(a, "enrol TOTP", func(r *accountRecord) error {
		if r.hasSecondFactor() {
			return fmt.Errorf("TOTP %w; reset the second factor first", ErrExists)
		}
		r.TOTP = &totpRecord{Sealed: sealed, Since: v.now().UTC()}
		return nil
	})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP makes a pending enrolment active with a valid code from it,
// and returns the account's first recovery codes (shown once; only their
// hashes are kept). ErrBadCredentials for a wrong code, ErrNoSecondFactor
// without a pending enrolment. The caller throttles tries (authgate).
func (v *Vault) ConfirmTOTP(address, code string) ([]string, error) {
	codes, hashes := v.newRecoveryCodes()
	err := v.changeAccount(address, "confirm TOTP", func(r *accountRecord) error {
		if r.TOTP == nil || r.TOTP.Active {
			return ErrNoSecondFactor
		}
		if err := v.takeTOTPCode(r, code); err != nil {
			return err
		}
		r.TOTP.Active = true
		r.TOTP.Since = v.now().UTC()
		r.Recovery = hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// VerifyTOTP checks a code of the account's active TOTP: right for the
// current 30-second step or the one before or after, and for a later step
// than the last code accepted (so each code is used once). ErrBadCredentials
// otherwise, also for an account without TOTP; ErrAccountDisabled, before
// any code is checked, for a disabled account. The caller throttles tries.
func (v *Vault) VerifyTOTP(address, code string) error {
	return v.changeAccount(address, "verify TOTP", func(r *accountRecord) error {
		if r.Disabled {
			return ErrAccountDisabled
		}
		if !r.hasSecondFactor() {
			return ErrBadCredentials
		}
		return v.takeTOTPCode(r, code)
	})
}

// takeTOTPCode checks code against r's TOTP secret and records its step.
func (v *Vault) takeTOTPCode(r *accountRecord, code string) error {
	secret, err := v.secrets.openTOTP(r.Address, r.TOTP.Sealed)
	if err != nil {
		return err
	}
	now := v.now()
	current := now.Unix() / int64(totpOptions.Period)
	matched := int64(-1)
	for step := current - 1; step <= current+1; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(totpOptions.Period), 0), totpOptions)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(strings.TrimSpace(code))) == 1 {
			matched = step
		}
	}
	if matched < 0 || matched <= r.TOTP.LastStep {
		return ErrBadCredentials
	}
	r.TOTP.LastStep = matched
	return nil
}

// UseRecoveryCode checks a recovery code and, if it is one of the
// account's unused ones, uses it up. ErrBadCredentials otherwise;
// ErrAccountDisabled for a disabled account, whose codes stay unused.
func (v *Vault) UseRecoveryCode(address, code string) error {
	h := v.secrets.hash(code)
	return v.changeAccount(address, "use recovery code", func(r *accountRecord) error {
		if r.Disabled {
			return ErrAccountDisabled
		}
		for i, stored := range r.Recovery {
			if hmac.Equal(stored, h) {
				r.Recovery = append(r.Recovery[:i:i], r.Recovery[i+1:]...)
				return nil
			}
		}
		return ErrBadCredentials
	})
}

// RegenerateRecoveryCodes replaces all of an account's recovery codes with
// new ones, returned once. ErrNoSecondFactor without an active TOTP.
func (v *Vault) RegenerateRecoveryCodes(address string) ([]string, error) {
	codes, hashes := v.newRecoveryCodes()
	err := v.changeAccount(address, "regenerate recovery codes", func(r *accountRecord) error {
		if !r.hasSecondFactor() {
			return ErrNoSecondFactor
		}
		r.Recovery = hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetSecondFactor removes an account's TOTP (active or pending) and its
// recovery codes: an administrator's way back in for a user who lost the
// phone. The account's app passwords stay; its logins and staff web
// sessions end (Account.Generation). Passkeys are package passkey's to
// remove (passkey.ResetSecondFactor), and with them Account.Passkey.
// Nothing secret is returned.
func (v *Vault) ResetSecondFactor(address string) error {
	return v.changeAccount(address, "reset second factor", func(r *accountRecord) error {
		r.TOTP, r.Recovery = nil, nil
		r.Generation++
		return nil
	})
}

// newRecoveryCodes draws RecoveryCodeCount codes of 10 base32 characters
// (50 bits), written XXXXX-XXXXX, and their keyed hashes.
func (v *Vault) newRecoveryCodes() (codes []string, hashes [][]byte) {
	for range RecoveryCodeCount {
		t := rand.Text()[:10]
		code := t[:5] + "-" + t[5:]
		codes = append(codes, code)
		hashes = append(hashes, v.secrets.hash(code))
	}
	return codes, hashes
}

// CreateAppPassword makes a new app password named name for one device
// and returns it (shown once; only its keyed hash is kept).
func (v *Vault) CreateAppPassword(address, name string) (AppPassword, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return AppPassword{}, "", fmt.Errorf("vault: create app password: the name must be 1 to 100 printable characters")
	}
	secret := rand.Text() // 26 base32 characters, 130 bits
	rec := appPasswordRecord{ID: strings.ToLower(rand.Text()[:8]), Name: name, Hash: v.secrets.hash(secret), Created: v.now().UTC()}
	err := v.changeAccount(address, "create app password", func(r *accountRecord) error {
		for _, p := range r.AppPasswords {
			if strings.EqualFold(p.Name, name) {
				return fmt.Errorf("app password %q %w", name, ErrExists)
			}
		}
		r.AppPasswords = append(r.AppPasswords, rec)
		return nil
	})
	if err != nil {
		return AppPassword{}, "", err
	}
	return rec.listed(), secret, nil
}

// AppPasswords lists an account's app passwords, oldest first.
func (v *Vault) AppPasswords(address string) ([]AppPassword, error) {
	var out []AppPassword
	rec, err := v.accountRecord(address)
	if err != nil {
		return nil, fmt.Errorf("vault: app passwords of %s: %w", address, err)
	}
	for _, p := range rec.AppPasswords {
		out = append(out, p.listed())
	}
	return out, nil
}

// RevokeAppPassword deletes one app password by its id. ErrNotFound for
// an unknown one.
func (v *Vault) RevokeAppPassword(address, id string) error {
	return v.changeAccount(address, "revoke app password", func(r *accountRecord) error {
		for i, p := range r.AppPasswords {
			if p.ID == strings.ToLower(id) {
				r.AppPasswords = append(r.AppPasswords[:i:i], r.AppPasswords[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("app password %q: %w", id, ErrNotFound)
	})
}

func (p appPasswordRecord) listed() AppPassword {
	return AppPassword{ID: p.ID, Name: p.Name, Created: p.Created, LastUsed: p.LastUsed}
}

func (r *accountRecord) hasAppPassword(id string) bool {
	for _, p := range r.AppPasswords {
		if p.ID == id {
			return true
		}
	}
	return false
}

// matchAppPassword is the app password whose hash is h, or nil.
func (r *accountRecord) matchAppPassword(h []byte) *appPasswordRecord {
	var found *appPasswordRecord
	for i := range r.AppPasswords {
		if hmac.Equal(r.AppPasswords[i].Hash, h) {
			found = &r.AppPasswords[i]
		}
	}
	return found
}

// noteAppPasswordUse writes an app password's last use, unless it was
// written less than appPasswordUseGranularity ago.
func (v *Vault) noteAppPasswordUse(address string, used *appPasswordRecord) error {
	now := v.now().UTC()
	if now.Sub(used.LastUsed) < appPasswordUseGranularity {
		return nil
	}
	err := v.changeAccount(address, "note app password use", func(r *accountRecord) error {
		for i := range r.AppPasswords {
			if r.AppPasswords[i].ID == used.ID {
				r.AppPasswords[i].LastUsed = now
			}
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil // removed meanwhile: the login raced the removal
	}
	return err
}
