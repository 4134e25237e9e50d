package vault

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"sigill/addressing"
	"sigill/vault/kv"
)

// Account is a staff login. The address is the login; it is compared case
// insensitively (stored in lower case).
type Account struct {
	Address string
	Created time.Time
	// Admin: the account manages staff accounts (on the staff web).
	Admin bool
	// Disabled: the account logs in nowhere (SMTP, IMAP, the staff web,
	// API keys) until it is enabled again; its records stay.
	Disabled bool
	// SecondFactor names the second factor in force: "" (none), "totp".
	// TOTPPending: an enrolment waits for its first valid code.
	SecondFactor string
	TOTPPending  bool
	// Passkey: the account holds a passkey, which package passkey records
	// here (Tx.SetPasskey); like an active TOTP it makes mail clients log
	// in with app passwords.
	Passkey bool
	// Generation counts the changes that end the account's logins: its
	// password set, its second factor reset, the account disabled. A
	// login or staff web session made under an older generation no longer
	// holds (StillValid).
	Generation uint64
	// RecoveryCodes is how many unused recovery codes the account has.
	RecoveryCodes int
	// AppPasswords is how many app passwords the account has.
	AppPasswords int
	// LoginAppPassword is the id of the app password Authenticate took
	// for this login, "" when the account password opened it; StillValid
	// checks it is not revoked.
	LoginAppPassword string
}

type accountRecord struct {
	Address  string    `json:"address"`
	Hash     string    `json:"hash"` // PHC string: $argon2id$v=19$m=65536,t=1,p=2$salt$hash
	Created  time.Time `json:"created"`
	Admin    bool      `json:"admin,omitempty"`
	Disabled bool      `json:"disabled,omitempty"`
	// The second factor and app passwords (secondfactor.go).
	TOTP         *totpRecord         `json:"totp,omitempty"`
	Recovery     [][]byte            `json:"recovery,omitempty"` // keyed hashes of the unused recovery codes
	AppPasswords []appPasswordRecord `json:"app_passwords,omitempty"`
	Passkey      bool                `json:"passkey,omitempty"`    // see Account.Passkey
	Generation   uint64              `json:"generation,omitempty"` // see Account.Generation
}

func (r *accountRecord) account() Account {
	a := Account{Address: r.Address, Created: r.Created, Admin: r.Admin, Disabled: r.Disabled,
		Passkey: r.Passkey, Generation: r.Generation, RecoveryCodes: len(r.Recovery), AppPasswords: len(r.AppPasswords)}
	if r.TOTP != nil && r.TOTP.Active {
		a.SecondFactor = "totp"
	}
	a.TOTPPending = r.TOTP != nil && !r.TOTP.Active
	return a
}

// hasSecondFactor: the account's password alone opens nothing, and SMTP
// and IMAP take only its app passwords.
func (r *accountRecord) hasSecondFactor() bool { return r.TOTP != nil && r.TOTP.Active }

// argonParams are Argon2id's cost parameters.
type argonParams struct {
	time    uint32 // passes
	memory  uint32 // KiB
	threads uint8
}

// productionArgon: 64 MiB, one pass, two lanes — the parameters x/crypto's
// argon2 documentation recommends (RFC 9106's draft: t=1, m=64 MiB), above
// OWASP's minimum (m=46 MiB with t=1). About 50-100 ms per hash on the
// target machine class. hashSlots bounds how many hashes run at once, so a
// burst of logins costs at most 4 × 64 MiB.
var productionArgon = argonParams{time: 1, memory: 64 * 1024, threads: 2}

const (
	saltSize  = 16
	hashSize  = 32
	hashSlots = 4
)

// argon is the parameter set new hashes use. Only the package's tests change
// it (to keep -race runs fast); production code never does.
var argon = productionArgon

var hashSem = make(chan struct{}, hashSlots)

// argonRuns counts argon2id computations (the tests check that an unknown
// account costs one, like a known one).
var argonRuns atomic.Int64

var phcEncoding = base64.RawStdEncoding

func hashPassword(password string, p argonParams) string {
	salt := randomBytes(saltSize)
	sum := argonKey([]byte(password), salt, p, hashSize)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		phcEncoding.EncodeToString(salt), phcEncoding.EncodeToString(sum))
}

func argonKey(password, salt []byte, p argonParams, n uint32) []byte {
	hashSem <- struct{}{}
	defer func() { <-hashSem }()
	argonRuns.Add(1)
	return argon2.IDKey(password, salt, p.time, p.memory, p.threads, n)
}

// parsePHC reads an $argon2id$ PHC string, refusing parameters so large a
// tampered file could exhaust the machine.
func parsePHC(s string) (p argonParams, salt, sum []byte, err error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errors.New("not an argon2id v19 PHC string")
	}
	var m, t, par uint64
	for _, kv := range strings.Split(f[3], ",") {
		k, val, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(val, 10, 32)
		if !ok || perr != nil {
			return p, nil, nil, fmt.Errorf("bad parameter %q", kv)
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			par = n
		default:
			return p, nil, nil, fmt.Errorf("unknown parameter %q", kv)
		}
	}
	if m < 8 || m > 1<<22 || t < 1 || t > 64 || par < 1 || par > 64 || m < 8*par {
		return p, nil, nil, fmt.Errorf("parameters out of range: m=%d,t=%d,p=%d", m, t, par)
	}
	if salt, err = phcEncoding.DecodeString(f[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("bad salt")
	}
	if sum, err = phcEncoding.DecodeString(f[5]); err != nil || len(sum) < 16 || len(sum) > 64 {
		return p, nil, nil, errors.New("bad hash")
	}
	return argonParams{time: uint32(t), memory: uint32(m), threads: uint8(par)}, salt, sum, nil
}

func checkPassword(phc, password string) (bool, error) {
	p, salt, sum, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argonKey([]byte(password), salt, p, uint32(len(sum)))
	return subtle.ConstantTimeCompare(got, sum) == 1, nil
}

// dummySalt is what Authenticate hashes with for an unknown account, so that
// its time does not tell which accounts exist.
var dummySalt = []byte("sigill-no-such-account")

// normalizeAddress lower-cases a login and checks it looks like an address.
func normalizeAddress(address string) (string, error) {
	a := strings.ToLower(address)
	local, domain, ok := strings.Cut(a, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%q is not an address (local@domain)", address)
	}
	for _, r := range a {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("%q holds a space or control character", address)
		}
	}
	return a, nil
}

func checkNewPassword(password string) error {
	if password == "" {
		return errors.New("empty password")
	}
	return nil
}

// AddAccount adds a staff login with an argon2id hash of its password.
// ErrExists when the address (in any case) already has one.
func (v *Vault) AddAccount(address, password string) error {
	return v.addAccount(address, password, false)
}

// AddAdmin is AddAccount for an administrator.
func (v *Vault) AddAdmin(address, password string) error {
	return v.addAccount(address, password, true)
}

func (v *Vault) addAccount(address, password string, admin bool) error {
	a, err := normalizeAddress(address)
	if err == nil {
		err = checkNewPassword(password)
	}
	if err != nil {
		return fmt.Errorf("vault: add account: %w", err)
	}
	rec, err := json.Marshal(accountRecord{Address: a, Hash: hashPassword(password, argon), Created: v.now().UTC(), Admin: admin})
	if err != nil {
		return fmt.Errorf("vault: add account: %w", err)
	}
	err = v.commit.update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket(bAccounts)
		if old, err := b.Get([]byte(a)); err != nil || old != nil {
			return cmp.Or(err, ErrExists)
		}
		return b.Put([]byte(a), rec)
	})
	if err != nil {
		return fmt.Errorf("vault: add account %s: %w", a, err)
	}
	return nil
}

// SetPassword replaces an account's password. ErrNotFound for an unknown
// account.
func (v *Vault) SetPassword(address, password string) error {
	a, err := normalizeAddress(address)
	if err == nil {
		err = checkNewPassword(password)
	}
	if err != nil {
		return fmt.Errorf("vault: set password: %w", err)
	}
	hash := hashPassword(password, argon)
	err = v.commit.update(context.Background(), func(tx kv.Tx) error {
		rec, err := getAccount(tx, a)
		if err != nil {
			return err
		}
		rec.Hash = hash
		rec.Generation++
		return putAccount(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("vault: set password of %s: %w", a, err)
	}
	return nil
}

// RemoveAccount deletes a staff login. ErrNotFound for an unknown account.
func (v *Vault) RemoveAccount(address string) error {
	a := strings.ToLower(address)
	err := v.commit.update(context.Background(), func(tx kv.Tx) error {
		b := tx.Bucket(bAccounts)
		if old, err := b.Get([]byte(a)); err != nil || old == nil {
			return cmp.Or(err, ErrNotFound)
		}
		return b.Delete([]byte(a))
	})
	if err != nil {
		return fmt.Errorf("vault: remove account %s: %w", a, err)
	}
	return nil
}

// Accounts lists the staff logins sorted by address.
func (v *Vault) Accounts() ([]Account, error) {
	var out []Account
	err := v.view(func(tx kv.Tx) error {
		return tx.Bucket(bAccounts).Range(kv.Range{}, func(k, b []byte) error {
			var r accountRecord
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("account %q: %w", k, err)
			}
			out = append(out, r.account())
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: accounts: %w", err)
	}
	return out, nil
}

// loginLogKey keys the hash that stands in logs for a login name that is
// no account. It is drawn when the process starts and never stored: within
// one run the same name shows as the same hash, so repeated guesses stand
// out, but nobody can later test guesses against a log — not even with the
// vault and its key file, and a personal number has few enough values to
// try them all.
var loginLogKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}()

// LoggableLogin is a login name as a log may show it: the account's address
// when it names an existing account (personal numbers in it masked), else
// "unknown:" and a short keyed hash of it, since a name that is no account
// may be a password typed into the wrong field, or a personal number.
func (v *Vault) LoggableLogin(username string) string {
	a := strings.ToLower(username)
	exists := false
	v.view(func(tx kv.Tx) error {
		if a == "" {
			return nil
		}
		rec, err := tx.Bucket(bAccounts).Get([]byte(a))
		exists = rec != nil
		return err
	})
	if exists {
		return addressing.MaskPersonalNumbers(a)
	}
	mac := hmac.New(sha256.New, loginLogKey)
	mac.Write([]byte(a))
	return "unknown:" + hex.EncodeToString(mac.Sum(nil)[:6])
}

// Authenticate checks a login at SMTP submission and IMAP. Every failure is
// ErrBadCredentials, and an unknown account costs the same argon2id run as
// a known one, so neither the answer nor its time tells which accounts
// exist. Only once the password is right does the answer say more:
// ErrAccountDisabled for a disabled account, ErrAppPasswordRequired for
// an account password where only app passwords open the door (the account
// has a second factor, or Options.RequireSecondFactor). App passwords are
// taken for every account that has one.
func (v *Vault) Authenticate(address, password string) (Account, error) {
	return v.authenticate(address, password, true)
}

// CheckPassword checks an account's own password, as the staff web's
// sign-in does before it asks for the second factor: app passwords do not
// open it, and a second factor does not stop it. Its failures are those of
// Authenticate, at the same cost.
func (v *Vault) CheckPassword(address, password string) (Account, error) {
	return v.authenticate(address, password, false)
}

// authenticate is Authenticate for mail clients (mail true), CheckPassword
// otherwise.
func (v *Vault) authenticate(address, password string, mail bool) (Account, error) {
	a := strings.ToLower(address)
	var rec *accountRecord
	err := v.view(func(tx kv.Tx) error {
		r, err := getAccount(tx, a)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		rec = r
		return err
	})
	if err != nil {
		return Account{}, fmt.Errorf("vault: authenticate: %w", err)
	}
	if rec == nil {
		argonKey([]byte(password), dummySalt, argon, hashSize)
		v.secrets.hash(password)
		return Account{}, fmt.Errorf("vault: authenticate: %w", ErrBadCredentials)
	}
	passwordOK, err := checkPassword(rec.Hash, password)
	if err != nil {
		return Account{}, fmt.Errorf("vault: authenticate %s: stored hash: %w", a, err)
	}
	app := rec.matchAppPassword(v.secrets.hash(password))
	if !mail {
		app = nil
	}
	switch {
	case !passwordOK && app == nil:
		return Account{}, fmt.Errorf("vault: authenticate: %w", ErrBadCredentials)
	case rec.Disabled:
		return Account{}, fmt.Errorf("vault: authenticate %s: %w", a, ErrAccountDisabled)
	case mail && app == nil && (rec.hasSecondFactor() || rec.Passkey || v.opt.RequireSecondFactor):
		return Account{}, fmt.Errorf("vault: authenticate %s: %w", a, ErrAppPasswordRequired)
	}
	login := rec.account()
	if app != nil {
		if err := v.noteAppPasswordUse(a, app); err != nil {
			return Account{}, fmt.Errorf("vault: authenticate %s: %w", a, err)
		}
		login.LoginAppPassword = app.ID
	}
	return login, nil
}

// StillValid checks that a login Authenticate returned still holds, as a
// session checks before each transaction or command: the account exists
// and is not disabled, its password and second factor have not changed
// since (Account.Generation), and the app password it logged in with is
// not revoked. It reads one record and hashes nothing. ErrNotFound,
// ErrAccountDisabled, ErrCredentialsChanged or ErrAppPasswordRevoked
// otherwise.
func (v *Vault) StillValid(login Account) error {
	rec, err := v.accountRecord(login.Address)
	switch {
	case err != nil:
		return fmt.Errorf("vault: login of %s: %w", login.Address, err)
	case rec.Disabled:
		return fmt.Errorf("vault: login of %s: %w", login.Address, ErrAccountDisabled)
	case login.Generation != rec.Generation:
		return fmt.Errorf("vault: login of %s: %w", login.Address, ErrCredentialsChanged)
	case login.LoginAppPassword != "" && !rec.hasAppPassword(login.LoginAppPassword):
		return fmt.Errorf("vault: login of %s: %w", login.Address, ErrAppPasswordRevoked)
	}
	return nil
}

// WhyLoginEnded says, for a user, why StillValid refused a login, in the
// words SMTP's 421 and IMAP's BYE both give; false for an error that
// says nothing about the login (the store failed: try again).
func WhyLoginEnded(err error) (string, bool) {
	switch {
	case errors.Is(err, ErrAccountDisabled):
		return "This account has been disabled since you logged in; ask an administrator", true
	case errors.Is(err, ErrAppPasswordRevoked):
		return "The app password this session logged in with has been revoked; log in with a current one (sigill user app-password)", true
	case errors.Is(err, ErrCredentialsChanged):
		return "This account's password or second factor has changed since you logged in; log in again", true
	case errors.Is(err, ErrNotFound):
		return "This account has been removed since you logged in", true
	}
	return "", false
}

// SetDisabled disables an account (it logs in nowhere) or enables it
// again. ErrNotFound for an unknown account.
func (v *Vault) SetDisabled(address string, disabled bool) error {
	return v.changeAccount(address, "set disabled", func(r *accountRecord) error {
		if disabled && !r.Disabled {
			r.Generation++
		}
		r.Disabled = disabled
		return nil
	})
}

// SetAdmin gives an account the administrator role or takes it away.
func (v *Vault) SetAdmin(address string, admin bool) error {
	return v.changeAccount(address, "set admin", func(r *accountRecord) error {
		r.Admin = admin
		return nil
	})
}

// Account reads one account. ErrNotFound for an unknown one.
func (v *Vault) Account(address string) (Account, error) {
	r, err := v.accountRecord(address)
	if err != nil {
		return Account{}, fmt.Errorf("vault: account %s: %w", address, err)
	}
	return r.account(), nil
}

func (v *Vault) accountRecord(address string) (*accountRecord, error) {
	var rec *accountRecord
	err := v.view(func(tx kv.Tx) error {
		r, err := getAccount(tx, strings.ToLower(address))
		rec = r
		return err
	})
	return rec, err
}

// changeAccount reads, changes and writes back one account record in a
// durable transaction. change may run more than once (see Vault.Update).
func (v *Vault) changeAccount(address, what string, change func(*accountRecord) error) error {
	a := strings.ToLower(address)
	err := v.commit.update(context.Background(), func(tx kv.Tx) error {
		rec, err := getAccount(tx, a)
		if err != nil {
			return err
		}
		if err := change(rec); err != nil {
			return err
		}
		return putAccount(tx, rec)
	})
	if err != nil {
		return fmt.Errorf("vault: %s of %s: %w", what, a, err)
	}
	return nil
}

func getAccount(tx kv.Tx, address string) (*accountRecord, error) {
	raw, err := tx.Bucket(bAccounts).Get([]byte(address))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, ErrNotFound
	}
	var r accountRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("account %q: %w", address, err)
	}
	return &r, nil
}

func putAccount(tx kv.Tx, r *accountRecord) error {
	out, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bAccounts).Put([]byte(r.Address), out)
}
