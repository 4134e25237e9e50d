package vault

// Expiry per message.
//
// A message expires at received + its lifetime: the shortest of
// Incoming.Lifetime and its recipients' exp= (addressing.Recipient.Exp),
// or Options.Retention when none is given, and never later than
// Options.MaxRetention after it was received. One message has one
// lifetime, because it has one ciphertext: when two addresses of one SMTP
// message ask for different lifetimes the shortest wins, since keeping the
// content longer for one recipient would keep it readable longer than the
// sender asked for the other (the recipient with the longer exp= sees the
// shorter expiry on the page).
//
// The expiry works as retention always has (retention.go): Decrypt refuses
// from the exact instant, Sweep deletes the ciphertext and wrapped keys, and
// the key store's expiry key of the instant's hour, destroyed when the hour
// ends, is what makes the deletion final against copies. So that the
// expiry can change without the tokens (which the vault never holds), each
// message has an expiry secret of its own, 32 random bytes: its wrapped
// keys are derived from that secret and the token, and the secret is kept
// sealed under the expiry key of the message's hour. SetExpiry seals it
// again under the new hour's key (and the escrow packet with it).
//
// What a copy of the vault file, the key file and the key store then opens
// (with a token), after SetExpiry:
//
//   - extended: the new seal opens until the new hour ends. The old seal
//     stays in bbolt's free pages, holding every recipient's secret, which
//     a withdrawal later must be able to shred (revoke.go): so the old
//     hour's key is replaced as for a shortened expiry (below).
//   - shortened: the new seal goes with the new (earlier) hour's key. The
//     old seal, left in free pages, would open with the old hour's key until
//     the old hour ends; so that key is replaced (replaceExpiryKey): a fresh
//     key takes its period, every other message sealed under the old key is
//     sealed again under the fresh one, and the old key is destroyed before
//     SetExpiry returns. Copies made after that open the message only until
//     the new hour ends, like any message expiring then. (A message accepted
//     before expiry secrets, whose wrapped keys need the hour's key itself,
//     keeps the old key alive to its period's end, and with it this
//     guarantee waits for that hour: such messages go within
//     vault.max_retention of the upgrade.)

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/vault/kv"
)

// DefaultMaxRetention is Options.MaxRetention when zero (and Retention and
// AuditRetention allow it): 90 days, as config's vault.max_retention.
const DefaultMaxRetention = 2160 * time.Hour

// expirySecretSize is the size of a message's expiry secret.
const expirySecretSize = 32

// EventExpiryChanged is recorded per recipient when SetExpiry changes a
// message's expiry: By names who, Detail the old and the new instant.
const EventExpiryChanged EventKind = "expiry_changed"

// ErrBadExpiry is an expiry SetExpiry will not set: not in the future, or
// later than Options.MaxRetention after the message was received.
var ErrBadExpiry = errors.New("expiry out of range")

// ErrFixedExpiry is a message accepted before messages had an expiry secret:
// its wrapped keys need its hour's key itself, so its expiry cannot move.
var ErrFixedExpiry = errors.New("the message was accepted before per-message expiry; its expiry cannot change")

func init() { eventKinds[EventExpiryChanged] = true }

// lifetimeOf is the lifetime of an incoming message (see above).
func (v *Vault) lifetimeOf(in Incoming) time.Duration {
	lifetime := in.Lifetime
	for _, r := range in.Recipients {
		if exp := r.Exp.Duration(); exp > 0 && (lifetime <= 0 || exp < lifetime) {
			lifetime = exp
		}
	}
	if lifetime <= 0 {
		lifetime = v.opt.Retention
	}
	return min(lifetime, v.opt.MaxRetention)
}

// expirySecretOf returns the secret a message's wrapped keys need: its
// expiry secret opened with its expiry key, or for a message accepted
// before expiry secrets the expiry key itself (not to be cleared).
func expirySecretOf(m *messageRecord, k *expiryKey) ([]byte, error) {
	if m.ExpirySecret == nil {
		if m.Revoked {
			return nil, ErrRevoked // withdrawn: the secret was shredded (revoke.go)
		}
		return k.raw, nil
	}
	return openSecret(k, m.ID, m.ExpirySecret)
}

// expirySecret opens a message's expiry secret with its expiry key from
// the key store; done clears it. ErrExpired when the key store no longer
// has the key.
func (v *Vault) expirySecret(m *messageRecord) (secret []byte, done func(), err error) {
	expiry := v.keys.expiryKeyAt(m.ExpiryKey, m.ExpiryKeyID)
	if expiry == nil {
		// Lost with a key store the admin replaced: the content is as
		// good as deleted.
		return nil, nil, fmt.Errorf("%w (its expiry key is not in the key store %s)", ErrExpired, v.opt.KeyStore)
	}
	secret, err = expirySecretOf(m, expiry)
	if err != nil {
		return nil, nil, fmt.Errorf("message %s: %w", m.ID, err)
	}
	if m.ExpirySecret == nil {
		return secret, func() {}, nil // the expiry key itself: not ours to clear
	}
	return secret, func() { clear(secret) }, nil
}

// resealExpiry seals a message's expiry secret and escrow packet, sealed under
// from, again under to, and names to as its expiry key.
func resealExpiry(m *messageRecord, from, to *expiryKey) error {
	secret, err := openSecret(from, m.ID, m.ExpirySecret)
	if err != nil {
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	m.ExpirySecret = sealSecret(to, m.ID, secret)
	clear(secret)
	if err := resealRecipientSecrets(m, from, to); err != nil {
		return err
	}
	if m.Escrow != nil {
		pkesk, err := openEscrow(from, m.ID, m.Escrow)
		if err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		m.Escrow = sealEscrow(to, m.ID, pkesk)
	}
	m.ExpiryKey, m.ExpiryKeyID = to.start.Unix(), to.id
	return nil
}

// Expiry tells when a message was received and when it expires (or
// expired). ErrNotFound for an unknown id.
func (v *Vault) Expiry(id string) (received, expires time.Time, err error) {
	err = v.view(func(tx kv.Tx) error {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		received, expires = m.Received, m.Expires
		return nil
	})
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("vault: expiry: %w", err)
	}
	return received, expires, nil
}

// SetExpiry moves a message's expiry to expires, earlier or later, for every
// recipient: its expiry secret and escrow packet are sealed again under the
// key of expires' hour, Sweep's index follows, and an "expiry_changed"
// event naming by (an account, "admin") is recorded per recipient, all in
// one transaction. The new instant must be in the future and at most
// Options.MaxRetention after the message was received (ErrBadExpiry); a
// message whose expiry has passed cannot be revived (ErrExpired). It
// returns the expiry it replaced.
func (v *Vault) SetExpiry(id string, expires time.Time, by string) (time.Time, error) {
	expires = expires.UTC()
	now := v.now().UTC()
	if !expires.After(now) {
		return time.Time{}, fmt.Errorf("vault: set expiry of %s: %w: %s is not in the future", id, ErrBadExpiry, expires.Format(time.RFC3339))
	}
	// Made (and written to the key store) before anything is sealed under it.
	key, err := v.keys.expiryKeyFor(expires)
	if err != nil {
		return time.Time{}, fmt.Errorf("vault: set expiry of %s: %w", id, err)
	}
	var (
		old    time.Time
		oldKey *expiryKey
	)
	err = v.commit.update(context.Background(), func(tx kv.Tx) error {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		old = m.Expires
		if m.Expired || !now.Before(m.Expires) {
			return ErrExpired
		}
		if m.Revoked {
			return ErrRevoked
		}
		if m.ExpirySecret == nil {
			return ErrFixedExpiry
		}
		if limit := m.Received.Add(v.opt.MaxRetention); expires.After(limit) {
			return fmt.Errorf("%w: %s is later than %s, the longest lifetime (%v) after the message was received", ErrBadExpiry, expires.Format(time.RFC3339), limit.Format(time.RFC3339), v.opt.MaxRetention)
		}
		oldKey = v.keys.expiryKeyAt(m.ExpiryKey, m.ExpiryKeyID)
		if oldKey == nil {
			return ErrExpired // lost with a replaced key store: as good as deleted
		}
		if err := resealExpiry(m, oldKey, key); err != nil {
			return err
		}
		m.Expires = expires
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bParts).Put(metaKey(id), out); err != nil {
			return err
		}
		due := tx.Bucket(bExpireDue)
		if err := due.Delete(dueKey(old, id)); err != nil {
			return err
		}
		if err := due.Put(dueKey(expires, id), nil); err != nil {
			return err
		}
		detail := fmt.Sprintf("from %s to %s", old.UTC().Format(time.RFC3339), expires.Format(time.RFC3339))
		for i := range m.Recipients {
			ev := Event{MessageID: id, Recipient: i, Kind: EventExpiryChanged, At: now, By: by, Detail: detail}
			raw, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := v.putEvent(tx, []byte(id), raw, ev); err != nil {
				return err
			}
		}
		return nil
	})
	v.keys.releaseExpiry(key)
	if err != nil {
		return old, fmt.Errorf("vault: set expiry of %s: %w", id, err)
	}
	v.kickSweep()
	if oldKey != nil && oldKey != key {
		// The old seal, in free pages now, must not outlive the new expiry
		// in copies (shortened), nor a withdrawal to come (extended: it
		// holds every recipient's secret); its hour's key is replaced.
		if err := v.replaceExpiryKey(oldKey); err != nil {
			return old, fmt.Errorf("vault: set expiry of %s: the expiry changed, but the key of its old hour was not replaced (until it is, copies made now open it with a token until %s): %w", id, oldKey.end.Format(time.RFC3339), err)
		}
	}
	return old, nil
}

// kickSweep tells RunSweeper that an expiry may now come before its next
// wake-up.
func (v *Vault) kickSweep() {
	select {
	case v.sweepKick <- struct{}{}:
	default:
	}
}

// replaceExpiryKey makes old, the key of a message's former (later) hour,
// useless: a fresh key takes its place in its period, every message still
// sealed under old is sealed again under the fresh one, and old is
// destroyed. The seals under old left in bbolt's free pages (the shortened
// message's among them) then open nothing. Should in-flight seals under
// old or a fault stop it midway, the background pass (shredPass) finishes.
func (v *Vault) replaceExpiryKey(old *expiryKey) error {
	if err := v.keys.replaceExpiry(old); err != nil {
		return err
	}
	// Accepts and expiry changes that took old before it was replaced
	// commit within moments; wait for them, then reseal what they sealed too.
	for range 5000 {
		if v.keys.expiryInflight(old) == 0 {
			return v.finishRetiring(old)
		}
		time.Sleep(time.Millisecond)
	}
	v.kickShred()
	return nil
}

// finishRetiring seals every message still under the retiring key old
// again under its successor, then destroys old; or keeps old to its
// period's end when a message accepted before expiry secrets needs it.
func (v *Vault) finishRetiring(old *expiryKey) error {
	start := old.start.Unix()
	var ids []string
	err := v.view(func(tx kv.Tx) error {
		r := kv.Range{Start: dueKey(old.start, ""), End: dueKey(old.end, "")}
		return tx.Bucket(bExpireDue).Range(r, func(k, _ []byte) error {
			ids = append(ids, string(k[8:]))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("vault: replace expiry key: %w", err)
	}
	keep := false
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), sweepChunk)]
		ids = ids[len(chunk):]
		err := v.commit.update(context.Background(), func(tx kv.Tx) error {
			cur := v.keys.successor(old)
			if cur == nil {
				return nil // destroyed meanwhile (its period ended)
			}
			for _, id := range chunk {
				m, err := getMessage(tx, id)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if m.ExpiryKey != start || m.ExpiryKeyID != old.id || m.Expired || m.Revoked && m.ExpirySecret == nil {
					continue
				}
				if m.ExpirySecret == nil {
					keep = true
					continue
				}
				if err := resealExpiry(m, old, cur); err != nil {
					return err
				}
				out, err := json.Marshal(m)
				if err != nil {
					return err
				}
				if err := tx.Bucket(bParts).Put(metaKey(id), out); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("vault: replace expiry key: %w", err)
		}
	}
	if err := v.keys.destroyRetiring(old, keep); err != nil {
		return fmt.Errorf("vault: replace expiry key: %w", err)
	}
	return nil
}
