package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigill/vault"
)

// The scopes api.md names. A key holds only those it was made with.
const (
	ScopeSend   = "messages:send"
	ScopeRead   = "messages:read"
	ScopeRevoke = "messages:revoke"
	ScopeEvents = "events:read"
	ScopeAudit  = "audit:read" // personal numbers unmasked
	ScopeGDPR   = "gdpr:admin"
)

// Scopes are every scope, in the order they are listed.
var Scopes = []string{ScopeSend, ScopeRead, ScopeRevoke, ScopeEvents, ScopeAudit, ScopeGDPR}

// DefaultScopes are what a key gets when none are asked for: what a
// sending system needs, and none of the administrators' scopes.
var DefaultScopes = []string{ScopeSend, ScopeRead, ScopeRevoke, ScopeEvents}

// Prefix starts every key.
const Prefix = "sgl_"

const (
	tableKeys   = "apikeys"
	tableHashes = "apikey_hashes"
	maxNameLen  = 100
)

var tables = []string{tableKeys, tableHashes}

// Tables are the store's tables, for a transaction of another package
// that calls Ended.
var Tables = tables

var (
	// ErrUnknownKey is every way a presented key fails: malformed, never
	// made, revoked, or its account gone. They are one error so that the
	// answer tells a guesser nothing.
	ErrUnknownKey = errors.New("apikey: unknown, revoked or ended key")
	// ErrNotFound is an id that names no key.
	ErrNotFound = errors.New("apikey: no such key")
	// ErrNoAccount is Create for an address that is no staff account.
	ErrNoAccount = errors.New("apikey: no such staff account")
)

// Key is what is known about a key; the key itself is not among it.
type Key struct {
	ID      string     `json:"id"`
	Account string     `json:"account"`
	Name    string     `json:"name,omitempty"`
	Scopes  []string   `json:"scopes"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
	// Rate is the requests a second this key may make, when it is not the
	// API's default (a lab system that sends a night's results at once).
	Rate float64 `json:"rate,omitempty"`
}

// Option is a choice made when a key is created.
type Option func(*Key)

// WithRate gives the key its own rate limit, in requests a second.
func WithRate(perSecond float64) Option { return func(k *Key) { k.Rate = perSecond } }

// Allows tells whether the key holds scope.
func (k Key) Allows(scope string) bool { return slices.Contains(k.Scopes, scope) }

// record is a key as stored: Key and the hash of the key.
type record struct {
	Key
	Hash []byte `json:"hash"`
}

// Store is the keys, kept in the vault's tables through its Hook.
type Store struct{ v *vault.Vault }

// New makes a store; Attach gives it the vault opened with its Hook.
func New() *Store { return &Store{} }

// Hook declares the store's tables to the vault.
func (s *Store) Hook() vault.Hook { return vault.Hook{Name: "api keys", Tables: tables} }

// Attach gives the store the vault it keeps its tables in, opened with Hook.
func (s *Store) Attach(v *vault.Vault) { s.v = v }

func (s *Store) vault() *vault.Vault {
	if s.v == nil {
		panic("apikey: Store used before Attach")
	}
	return s.v
}

// CheckScopes refuses a scope api.md does not name, naming the ones it does.
func CheckScopes(scopes []string) error {
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return fmt.Errorf("%q is not a scope; the scopes are %s", sc, strings.Join(Scopes, ", "))
		}
	}
	return nil
}

// Create makes a key for account with scopes (DefaultScopes when none)
// and returns it with the key itself, which is not kept anywhere: the
// caller shows it once. ErrNoAccount for an address that is no account.
func (s *Store) Create(ctx context.Context, account, name string, scopes []string, opts ...Option) (Key, string, error) {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	if err := CheckScopes(scopes); err != nil {
		return Key{}, "", fmt.Errorf("apikey: create: %w", err)
	}
	if len(name) > maxNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Key{}, "", fmt.Errorf("apikey: create: the name must be at most %d characters and hold no control characters", maxNameLen)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	key := Prefix + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(key))
	var made Key
	err := s.vault().Update(ctx, tables, func(tx vault.Tx) error {
		acct, err := tx.Account(account)
		if errors.Is(err, vault.ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNoAccount, account)
		}
		if err != nil {
			return err
		}
		made = Key{
			ID: newID(), Account: acct.Address, Name: name,
			Scopes: slices.Clone(scopes), Created: tx.Now().UTC(),
		}
		for _, o := range opts {
			o(&made)
		}
		if made.Rate < 0 {
			return fmt.Errorf("the rate must be a number of requests a second above 0, not %g", made.Rate)
		}
		rec, err := json.Marshal(record{Key: made, Hash: sum[:]})
		if err != nil {
			return err
		}
		if err := tx.Table(tableKeys).Put([]byte(made.ID), rec); err != nil {
			return err
		}
		return tx.Table(tableHashes).Put(sum[:], []byte(made.ID))
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("apikey: create: %w", err)
	}
	return made, key, nil
}

// newID is a key's public name: 16 characters of base32, lower case.
func newID() string { return strings.ToLower(rand.Text()[:16]) }

// List returns every key, revoked ones too, by account then creation.
func (s *Store) List() ([]Key, error) {
	var out []Key
	err := s.vault().View(tables, func(tx vault.Tx) error {
		return tx.Table(tableKeys).Scan(nil, func(_, value []byte) error {
			var r record
			if err := json.Unmarshal(value, &r); err != nil {
				return err
			}
			out = append(out, r.Key)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	slices.SortFunc(out, func(a, b Key) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return a.Created.Compare(b.Created)
	})
	return out, nil
}

// Revoke ends a key for good. ErrNotFound for an unknown id; revoking a
// revoked key again changes nothing.
func (s *Store) Revoke(ctx context.Context, id string) error {
	err := s.vault().Update(ctx, tables, func(tx vault.Tx) error {
		r, err := get(tx, id)
		if err != nil || r.Revoked != nil {
			return err
		}
		now := tx.Now().UTC().Truncate(time.Second)
		r.Revoked = &now
		if err := tx.Table(tableHashes).Delete(r.Hash); err != nil {
			return err
		}
		out, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return tx.Table(tableKeys).Put([]byte(id), out)
	})
	if err != nil {
		return fmt.Errorf("apikey: revoke %s: %w", id, err)
	}
	return nil
}

// Ended reports, in a transaction holding Tables, whether the key id was
// revoked or never made: what a key made keeps serving (a webhook) ends
// with the key.
func Ended(tx vault.Tx, id string) (bool, error) {
	r, err := get(tx, id)
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return err == nil && r.Revoked != nil, err
}

func get(tx vault.Tx, id string) (record, error) {
	raw, err := tx.Table(tableKeys).Get([]byte(id))
	if err != nil {
		return record{}, err
	}
	if raw == nil {
		return record{}, ErrNotFound
	}
	var r record
	return r, json.Unmarshal(raw, &r)
}

// Authenticate tells whose a presented key is. ErrUnknownKey for a key
// that is malformed, was never made or revoked, or whose account is gone.
func (s *Store) Authenticate(key string) (Key, error) {
	if !strings.HasPrefix(key, Prefix) || len(key) > 200 {
		return Key{}, ErrUnknownKey
	}
	sum := sha256.Sum256([]byte(key))
	var found Key
	err := s.vault().View(tables, func(tx vault.Tx) error {
		id, err := tx.Table(tableHashes).Get(sum[:])
		if err != nil {
			return err
		}
		if id == nil {
			return ErrUnknownKey
		}
		r, err := get(tx, string(id))
		if errors.Is(err, ErrNotFound) || (err == nil && r.Revoked != nil) {
			return ErrUnknownKey
		}
		if err != nil {
			return err
		}
		acct, err := tx.Account(r.Account)
		if errors.Is(err, vault.ErrNotFound) || (err == nil && (acct.Created.After(r.Created) || acct.Disabled)) {
			return ErrUnknownKey // the account is gone, was made anew after the key, or is disabled
		}
		if err != nil {
			return err
		}
		found = r.Key
		return nil
	})
	if errors.Is(err, ErrUnknownKey) {
		return Key{}, ErrUnknownKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("apikey: authenticate: %w", err)
	}
	return found, nil
}
