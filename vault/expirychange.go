package vault

import (
	"fmt"
	"time"
)

// ExpiryChange is a new expiry as a sender or an administrator asks for
// it, through any door (the CLI, the API, the staff web): a lifetime
// counted from when the message was received (as exp= and the API's
// expires_in count), or an instant.
type ExpiryChange struct {
	Lifetime time.Duration
	At       time.Time
}

// ExpiryChanged is what ChangeExpiry did: when the message was received,
// the expiry it had and the one it has now.
type ExpiryChanged struct {
	Received, Old, Expires time.Time
}

// ChangeExpiry is SetExpiry with the new expiry as c asks for it (Lifetime
// wins when both are given). ErrBadExpiry when c asks for nothing, or for
// what SetExpiry refuses.
func (v *Vault) ChangeExpiry(id string, c ExpiryChange, by string) (ExpiryChanged, error) {
	received, _, err := v.Expiry(id)
	if err != nil {
		return ExpiryChanged{}, err
	}
	at := c.At
	if c.Lifetime > 0 {
		at = received.Add(c.Lifetime)
	}
	if at.IsZero() {
		return ExpiryChanged{}, fmt.Errorf("vault: set expiry of %s: %w: no new expiry given", id, ErrBadExpiry)
	}
	old, err := v.SetExpiry(id, at, by)
	if err != nil {
		return ExpiryChanged{}, err
	}
	return ExpiryChanged{Received: received.UTC(), Old: old.UTC(), Expires: at.UTC()}, nil
}
