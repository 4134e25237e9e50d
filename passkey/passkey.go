// Package passkey owns staff passkeys (WebAuthn, through go-webauthn): the
// credentials each account registered, the handle that ties an
// authenticator's discoverable credential to an account, and the short-lived
// ceremony state between a page's "begin" and "finish". All of it is kept
// in the vault's tables through a Hook, so a ceremony begun on one node can
// finish on another and a registration survives a restart.
//
// A passkey is a second factor and a sign-in on its own: a signed assertion
// with user verification proves possession and the user's PIN or
// biometrics, which is why the staff web lets it replace password + TOTP.
// The staff web mounts the ceremonies; this package holds no HTTP routes.
//
// Decisions: the user handle is 32 random bytes per account (WebAuthn
// forbids personal data there, so neither the address nor a hash of it);
// a ceremony lives five minutes and is spent by its first finish, right or
// wrong, so a captured response cannot be replayed; the RP ID is a host
// name (WebAuthn refuses IP addresses), which is why `sigill dev` prints
// the staff web as http://localhost.
package passkey

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"sigill/vault"
)

const (
	tableCreds      = "passkeys"           // account \x00 credential id → record
	tableHandles    = "passkey_handles"    // "a:" account → handle; "h:" handle → account
	tableCeremonies = "passkey_ceremonies" // ceremony id → ceremony

	ceremonyLife = 5 * time.Minute
	// DefaultMaxCeremonies is Service.MaxCeremonies when zero.
	DefaultMaxCeremonies = 1000
	maxNameLen           = 100
	maxPerAcct           = 20
)

var tables = []string{tableCreds, tableHandles, tableCeremonies}

var (
	// ErrNoCeremony is a finish whose ceremony is unknown, spent or older
	// than five minutes: start again.
	ErrNoCeremony = errors.New("passkey: the sign-in or registration expired or was already used; start again")
	// ErrRefused is every way an authenticator's answer fails to prove
	// what it should; the cause is logged, not shown.
	ErrRefused = errors.New("passkey: the authenticator's answer was not accepted")
	// ErrNotFound is an id that names none of the account's passkeys.
	ErrNotFound = errors.New("passkey: no such passkey")
	// ErrBadName is a registration's name that is empty, too long or
	// holds control characters; the ceremony is not spent by it.
	ErrBadName = fmt.Errorf("passkey: name it (1 to %d characters, no control characters), e.g. \"Work laptop\"", maxNameLen)
	// ErrBusy is a begin while Service.MaxCeremonies ceremonies are under
	// way: a sign-in page needs no sign-in, so without a bound a flood of
	// begins would grow the table without end.
	ErrBusy = errors.New("passkey: too many sign-ins and registrations under way; try again in a few minutes")
	// ErrTooMany is a registration past maxPerAcct.
	ErrTooMany = fmt.Errorf("passkey: an account may hold at most %d passkeys; remove one first", maxPerAcct)
)

// Passkey is what is shown of a registered credential.
type Passkey struct {
	ID       string    `json:"id"` // the credential id, base64url
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

type record struct {
	Passkey
	Credential webauthn.Credential `json:"credential"`
}

type ceremony struct {
	Account string               `json:"account,omitempty"` // registration only
	Session webauthn.SessionData `json:"session"`
	Expires time.Time            `json:"expires"`
}

// Service runs the ceremonies for one relying party.
type Service struct {
	// MaxCeremonies bounds the ceremonies under way (begun, neither
	// finished nor expired) across the store: a begin beyond it is refused
	// with ErrBusy. Zero: DefaultMaxCeremonies.
	MaxCeremonies int

	wa *webauthn.WebAuthn
	v  *vault.Vault
}

// Hook declares the package's tables; open the vault with it.
func Hook() vault.Hook { return vault.Hook{Name: "passkeys", Tables: tables} }

// New makes a service for the site rpID (a host name) reached at origins
// (e.g. "https://staff.example.se", "http://localhost:8090").
func New(v *vault.Vault, rpID, displayName string, origins []string) (*Service, error) {
	if !v.HasHook(Hook().Name) {
		return nil, errors.New("passkey: the vault was opened without passkey.Hook()")
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          rpID,
		RPDisplayName: displayName,
		RPOrigins:     origins,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationRequired,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: relying party %q: %w", rpID, err)
	}
	return &Service{wa: wa, v: v}, nil
}

// user is webauthn.User for one account.
type user struct {
	handle  []byte
	account string
	creds   []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.handle }
func (u user) WebAuthnName() string                       { return u.account }
func (u user) WebAuthnDisplayName() string                { return u.account }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// BeginRegistration starts adding a passkey to account: it returns the
// options for navigator.credentials.create (JSON) and the ceremony's id,
// which the page sends back with the answer.
func (s *Service) BeginRegistration(ctx context.Context, account string) (options []byte, ceremonyID string, err error) {
	err = s.v.Update(ctx, tables, func(tx vault.Tx) error {
		acct, err := tx.Account(account)
		if err != nil {
			return err
		}
		u, err := loadUser(tx, acct.Address, true)
		if err != nil {
			return err
		}
		if len(u.creds) >= maxPerAcct {
			return ErrTooMany
		}
		creation, session, err := s.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
		if err != nil {
			return err
		}
		if options, err = json.Marshal(creation); err != nil {
			return err
		}
		ceremonyID, err = s.putCeremony(tx, ceremony{Account: acct.Address, Session: *session})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin registration for %s: %w", account, err)
	}
	return options, ceremonyID, nil
}

// FinishRegistration checks the authenticator's answer (r's body, as
// go-webauthn reads it) for account's ceremony and stores the passkey
// under name.
func (s *Service) FinishRegistration(ctx context.Context, account, ceremonyID, name string, r *http.Request) (Passkey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Passkey{}, ErrBadName
	}
	parsed, perr := protocol.ParseCredentialCreationResponse(r)
	var made Passkey
	err := s.v.Update(ctx, tables, func(tx vault.Tx) error {
		c, err := takeCeremony(tx, ceremonyID)
		if err != nil {
			return err
		}
		if c.Account != strings.ToLower(account) {
			return ErrNoCeremony
		}
		if perr != nil {
			return fmt.Errorf("%w: %w", ErrRefused, perr)
		}
		u, err := loadUser(tx, c.Account, false)
		if err != nil {
			return err
		}
		cred, err := s.wa.CreateCredential(u, c.Session, parsed)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		made = Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Name: name, Created: tx.Now().UTC()}
		if err := putRecord(tx, c.Account, record{Passkey: made, Credential: *cred}); err != nil {
			return err
		}
		return tx.SetPasskey(c.Account, true)
	})
	if err != nil {
		return Passkey{}, spentOnFailure(ctx, s, ceremonyID, err)
	}
	return made, nil
}

// BeginLogin starts a sign-in with a discoverable passkey (no address
// typed): options for navigator.credentials.get and the ceremony's id.
func (s *Service) BeginLogin(ctx context.Context) (options []byte, ceremonyID string, err error) {
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	if options, err = json.Marshal(assertion); err != nil {
		return nil, "", err
	}
	err = s.v.Update(ctx, tables, func(tx vault.Tx) error {
		ceremonyID, err = s.putCeremony(tx, ceremony{Session: *session})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("passkey: begin sign-in: %w", err)
	}
	return options, ceremonyID, nil
}

// FinishLogin checks a sign-in's answer and returns the account it signs
// in. A disabled account is refused with vault.ErrAccountDisabled.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, r *http.Request) (vault.Account, error) {
	parsed, perr := protocol.ParseCredentialRequestResponse(r)
	var signedIn vault.Account
	err := s.v.Update(ctx, tables, func(tx vault.Tx) error {
		c, err := takeCeremony(tx, ceremonyID)
		if err != nil {
			return err
		}
		if perr != nil {
			return fmt.Errorf("%w: %w", ErrRefused, perr)
		}
		var owner string
		byHandle := func(_, handle []byte) (webauthn.User, error) {
			acct, err := tx.Table(tableHandles).Get(append([]byte("h:"), handle...))
			if err != nil || acct == nil {
				return nil, fmt.Errorf("unknown user handle: %v", err)
			}
			owner = string(acct)
			return loadUser(tx, owner, false)
		}
		cred, err := s.wa.ValidateDiscoverableLogin(byHandle, c.Session, parsed)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		acct, err := tx.Account(owner)
		if err != nil {
			return err
		}
		if acct.Disabled {
			return vault.ErrAccountDisabled
		}
		rec, err := getRecord(tx, owner, cred.ID)
		if err != nil {
			return err
		}
		rec.Credential.Authenticator = cred.Authenticator // the new sign count
		rec.LastUsed = tx.Now().UTC()
		signedIn = acct
		return putRecord(tx, owner, rec)
	})
	if err != nil {
		return vault.Account{}, spentOnFailure(ctx, s, ceremonyID, err)
	}
	return signedIn, nil
}

// List is account's passkeys, oldest first.
func (s *Service) List(ctx context.Context, account string) ([]Passkey, error) {
	var out []Passkey
	err := s.v.View(tables, func(tx vault.Tx) error {
		acct, err := tx.Account(account)
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.Table(tableCreds).Scan(credPrefix(account), func(_, b []byte) error {
			var r record
			if err := json.Unmarshal(b, &r); err != nil {
				return err
			}
			if r.belongsTo(acct) {
				out = append(out, r.Passkey)
			}
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Passkey) int { return a.Created.Compare(b.Created) })
	return out, err
}

// Remove deletes one of account's passkeys.
func (s *Service) Remove(ctx context.Context, account, id string) error {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return ErrNotFound
	}
	return s.v.Update(ctx, tables, func(tx vault.Tx) error {
		key := append(credPrefix(account), raw...)
		if b, err := tx.Table(tableCreds).Get(key); err != nil || b == nil {
			return cmpErr(err, ErrNotFound)
		}
		if err := tx.Table(tableCreds).Delete(key); err != nil {
			return err
		}
		return recordHasPasskey(tx, account)
	})
}

// RemoveAll deletes every passkey of account (a second-factor reset).
func (s *Service) RemoveAll(ctx context.Context, account string) error {
	return removeAll(ctx, s.v, account)
}

// ResetSecondFactor removes every second factor of address: its TOTP and
// recovery codes (vault.ResetSecondFactor) and its passkeys. It is the
// one reset behind the staff web's administrators' page, the admin
// listener and `sigill user 2fa ADDRESS reset`, and needs no relying
// party. A vault opened without Hook holds no passkeys to remove.
func ResetSecondFactor(v *vault.Vault, address string) error {
	if err := v.ResetSecondFactor(address); err != nil {
		return err
	}
	if !v.HasHook(Hook().Name) {
		return nil
	}
	if err := removeAll(context.Background(), v, address); err != nil {
		return fmt.Errorf("passkey: remove the passkeys of %s: %w", address, err)
	}
	return nil
}

func removeAll(ctx context.Context, v *vault.Vault, account string) error {
	return v.Update(ctx, tables, func(tx vault.Tx) error {
		var keys [][]byte
		err := tx.Table(tableCreds).Scan(credPrefix(account), func(k, _ []byte) error {
			keys = append(keys, slices.Clone(k))
			return nil
		})
		for _, k := range keys {
			if err == nil {
				err = tx.Table(tableCreds).Delete(k)
			}
		}
		if err != nil {
			return err
		}
		return recordHasPasskey(tx, account)
	})
}

// Has tells whether account holds a passkey (it counts as a second factor).
func (s *Service) Has(account string) (bool, error) {
	keys, err := s.List(context.Background(), account)
	return len(keys) > 0, err
}

// recordHasPasskey tells the vault whether account still holds a passkey
// (vault.Account.Passkey: then mail clients log in with app passwords
// only), in the transaction that added or removed one. A removed account
// has nothing to record.
func recordHasPasskey(tx vault.Tx, account string) error {
	acct, err := tx.Account(account)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	has := false
	err = tx.Table(tableCreds).Scan(credPrefix(account), func(_, b []byte) error {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		has = has || r.belongsTo(acct)
		return nil
	})
	if err != nil {
		return err
	}
	return tx.SetPasskey(account, has)
}

func credPrefix(account string) []byte {
	return append([]byte(strings.ToLower(account)), 0)
}

// loadUser reads account's handle (made when create is set and there is
// none) and credentials.
func loadUser(tx vault.Tx, account string, create bool) (user, error) {
	account = strings.ToLower(account)
	handles := tx.Table(tableHandles)
	h, err := handles.Get([]byte("a:" + account))
	if err != nil {
		return user{}, err
	}
	if h == nil {
		if !create {
			return user{}, ErrNotFound
		}
		h = make([]byte, 32)
		rand.Read(h)
		if err := handles.Put([]byte("a:"+account), h); err != nil {
			return user{}, err
		}
		if err := handles.Put(append([]byte("h:"), h...), []byte(account)); err != nil {
			return user{}, err
		}
	}
	acct, err := tx.Account(account)
	if err != nil {
		return user{}, err
	}
	u := user{handle: slices.Clone(h), account: account}
	err = tx.Table(tableCreds).Scan(credPrefix(account), func(_, b []byte) error {
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.belongsTo(acct) {
			u.creds = append(u.creds, r.Credential)
		}
		return nil
	})
	return u, err
}

// belongsTo tells whether r was registered by acct and not by an account
// removed before acct was made under the same address: the handle and
// the records outlive a removal, and a passkey must not open its
// successor.
func (r record) belongsTo(acct vault.Account) bool { return !r.Created.Before(acct.Created) }

func getRecord(tx vault.Tx, account string, credID []byte) (record, error) {
	b, err := tx.Table(tableCreds).Get(append(credPrefix(account), credID...))
	if err != nil || b == nil {
		return record{}, cmpErr(err, ErrNotFound)
	}
	var r record
	return r, json.Unmarshal(b, &r)
}

func putRecord(tx vault.Tx, account string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Table(tableCreds).Put(append(credPrefix(account), r.Credential.ID...), b)
}

// putCeremony stores c under a new random id, and clears ceremonies that
// have expired (few: one per sign-in attempt in the last minutes, and
// never more than MaxCeremonies). ErrBusy when MaxCeremonies are under
// way.
func (s *Service) putCeremony(tx vault.Tx, c ceremony) (string, error) {
	now := tx.Now().UTC()
	c.Expires = now.Add(ceremonyLife)
	var stale [][]byte
	live := 0
	err := tx.Table(tableCeremonies).Scan(nil, func(k, b []byte) error {
		var old ceremony
		if json.Unmarshal(b, &old) != nil || !now.Before(old.Expires) {
			stale = append(stale, slices.Clone(k))
		} else {
			live++
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, k := range stale {
		if err := tx.Table(tableCeremonies).Delete(k); err != nil {
			return "", err
		}
	}
	if live >= cmp.Or(s.MaxCeremonies, DefaultMaxCeremonies) {
		return "", ErrBusy
	}
	id := make([]byte, 24)
	rand.Read(id)
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	ids := base64.RawURLEncoding.EncodeToString(id)
	return ids, tx.Table(tableCeremonies).Put([]byte(ids), b)
}

// takeCeremony reads and deletes a ceremony: it is spent whatever follows.
func takeCeremony(tx vault.Tx, id string) (ceremony, error) {
	t := tx.Table(tableCeremonies)
	b, err := t.Get([]byte(id))
	if err != nil || b == nil {
		return ceremony{}, cmpErr(err, ErrNoCeremony)
	}
	var c ceremony
	if err := json.Unmarshal(b, &c); err != nil {
		return ceremony{}, err
	}
	if err := t.Delete([]byte(id)); err != nil {
		return ceremony{}, err
	}
	if !tx.Now().Before(c.Expires) {
		return ceremony{}, ErrNoCeremony
	}
	return c, nil
}

// spentOnFailure makes sure a failed finish still spends its ceremony:
// the transaction that deleted it was rolled back with the failure.
func spentOnFailure(ctx context.Context, s *Service, ceremonyID string, cause error) error {
	_ = s.v.Update(ctx, tables, func(tx vault.Tx) error {
		return tx.Table(tableCeremonies).Delete([]byte(ceremonyID))
	})
	return cause
}

func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}
