package vault

import (
	"errors"
	"fmt"

	"sigill/vault/kv"
)

// LinkState is what a link token opens now, in one word: the reader pages
// answer from it alone, without reading events or knowing the token's form.
type LinkState int

// The states. LinkUnknown is the zero value: a token the vault does not know
// (never made, malformed, or purged at audit retention) is told apart from
// nothing else.
const (
	LinkUnknown LinkState = iota
	LinkFine              // the message can be opened (by an allowed person)
	LinkExpired           // retention passed: the content is deleted, or due to be
	LinkRevoked           // the sender withdrew this recipient's copy (a "revoked" event)
)

func (s LinkState) String() string {
	switch s {
	case LinkFine:
		return "fine"
	case LinkExpired:
		return "expired"
	case LinkRevoked:
		return "revoked"
	}
	return "unknown"
}

// Lookup tells what a token's link opens now and, unless it is LinkUnknown,
// the letter it is for, decrypting nothing. A withdrawn copy is LinkRevoked
// even after it has also expired. A malformed token costs the same work as
// an unknown one of the right form. The error is for faults only (a closed
// vault, a damaged record), never for an unknown token.
func (v *Vault) Lookup(token string) (LinkState, Letter, error) {
	var (
		l       Letter
		revoked bool
	)
	err := v.view(func(tx kv.Tx) error {
		l2, _, rr, raw, err := v.letter(tx, token)
		clear(raw)
		if err != nil {
			return err
		}
		l, revoked = l2, rr.Revoked
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return LinkUnknown, Letter{}, nil
	case err != nil:
		return LinkUnknown, Letter{}, fmt.Errorf("vault: lookup: %w", err)
	case revoked:
		return LinkRevoked, l, nil
	case l.Expired:
		return LinkExpired, l, nil
	}
	return LinkFine, l, nil
}
