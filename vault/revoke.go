package vault

// Withdrawing a message (revocation).
//
// The sender (or an administrator) withdraws a message for one recipient
// or for all. From then on Lookup answers LinkRevoked and Decrypt
// ErrRevoked for those links, and — what a flag alone would not give — no
// copy of the vault file made afterwards, with the key file and the key
// store as they are then, opens the withdrawn copies with their tokens:
//
//   - every recipient has a secret of its own (RecipientSecrets), sealed
//     under the message's expiry key beside the expiry secret, and its
//     wrapped key needs both (expiry secret ‖ recipient secret ‖ token). A
//     withdrawn recipient's secret is dropped from the record; the old
//     record, with the secret, stays in bbolt's free pages, so the expiry
//     key it was sealed under is replaced as a shortened expiry's is
//     (replaceExpiryKey: a fresh key for the hour, the hour's other
//     messages — this one's remaining recipients among them — sealed again
//     under it, the old key destroyed) before Revoke returns.
//   - withdrawn for every recipient (Revoked), the message loses its escrow
//     packet as well: the escrow private key opens nothing of it any more
//     either. Its expiry secret stays, sealed again with the hour's other
//     messages, for what lives until the expiry (replies, SealUntilExpiry);
//     without recipient secrets it alone opens the content, and goes as an
//     expiry shreds it. The ciphertext is deleted at the expiry, as any
//     message's.
//
// A message accepted before recipient secrets has none: withdrawing one of
// its recipients marks the link only (Revocation.Final is false; the token
// opens a copy until the message expires), while withdrawing all of them
// shreds its expiry secret (and with it its replies, as an expiry would). A message accepted before expiry
// secrets keeps its hour's key alive to the hour's end (as SetExpiry).
//
// The recipient's notification, if still pending and not claimed, is
// dropped with its sealed token in the same transaction; a claimed one is
// the notifier's to end (it looks the link up before sending).

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"sigill/addressing"
	"sigill/vault/kv"
)

// infoRecipient is the purpose a recipient secret is sealed for, under
// its expiry key's secret-sealing key.
const infoRecipient = "sigill vault v2: recipient secret seal"

// MaxReason is the longest reason a withdrawal takes, in characters.
const MaxReason = 500

// ErrBadReason is a withdrawal's reason the vault refuses: longer than
// MaxReason, or holding a personal number (it is shown in the sender's
// receipts and the API's event feed, which show numbers masked).
var ErrBadReason = errors.New("reason refused")

// CheckReason tells whether reason may be a withdrawal's reason, in words
// a door can pass on (wrapping ErrBadReason).
func CheckReason(reason string) error {
	if n := utf8.RuneCountInString(reason); n > MaxReason {
		return fmt.Errorf("%w: it is %d characters long; write at most %d", ErrBadReason, n, MaxReason)
	}
	if masked, found := addressing.FindPersonalNumber(reason); found {
		return fmt.Errorf("%w: it holds a personal number (%s); the reason is shown in receipts, so leave the number out", ErrBadReason, masked)
	}
	return nil
}

// Revocation is what RevokeRecipients did.
type Revocation struct {
	Revoked []int // recipients withdrawn now: a "revoked" event recorded for each
	Already []int // recipients withdrawn before: nothing recorded again
	Whole   bool  // every recipient is withdrawn now: the escrow packet is shredded too
	// Final tells that copies of the vault made from now on open nothing of
	// the recipients withdrawn now; false for a message accepted before
	// recipient secrets (see above) when some of its recipients remain.
	Final bool
	Jobs  int // pending notifications dropped
}

// Revoke withdraws one recipient's copy of message id, or every
// recipient's with recipient -1; see RevokeRecipients.
func (v *Vault) Revoke(ctx context.Context, id string, recipient int, reason, by string) (Revocation, error) {
	if recipient < 0 {
		return v.RevokeRecipients(ctx, id, nil, reason, by)
	}
	return v.RevokeRecipients(ctx, id, []int{recipient}, reason, by)
}

// RevokeRecipients withdraws the copies of message id of the recipients
// given by index (nil: all), in one transaction: a "revoked" event per
// recipient not yet withdrawn (Detail the reason, By who: an account, or
// "admin"), the links marked, the recipient secrets (and for the whole
// message the escrow packet) dropped, pending
// notifications not yet claimed dropped. Then the expiry key they were
// sealed under is replaced, so no later copy opens them (see above).
//
// The reason must pass CheckReason (ErrBadReason). It is idempotent:
// recipients withdrawn before are reported in Already and nothing is
// recorded for them. ErrNotFound for an unknown message or recipient
// index, ErrExpired for a message whose expiry has passed (its content is
// deleted already), unless every recipient asked for was withdrawn before.
// An error with Revoked set means the withdrawal is recorded and refused
// from now on, but the key's replacement failed: the sweeper tries it
// again within a minute.
func (v *Vault) RevokeRecipients(ctx context.Context, id string, recipients []int, reason, by string) (Revocation, error) {
	if err := CheckReason(reason); err != nil {
		return Revocation{}, fmt.Errorf("vault: revoke %s: %w", id, err)
	}
	var (
		res    Revocation
		oldKey *expiryKey
	)
	err := v.commit.update(ctx, func(tx kv.Tx) error {
		res, oldKey = Revocation{}, nil // the function may run again after a rollback
		now := v.now().UTC()
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		want := recipients
		if want == nil {
			want = make([]int, len(m.Recipients))
			for i := range want {
				want[i] = i
			}
		}
		recs := make(map[int]*recipientRecord, len(want))
		for _, i := range want {
			if i < 0 || i >= len(m.Recipients) {
				return fmt.Errorf("message %s has no recipient %d (it has %d, counted from 0): %w", id, i, len(m.Recipients), ErrNotFound)
			}
			rr, err := recipientAt(tx, m, i)
			if err != nil {
				return err
			}
			recs[i] = rr
			if rr.Revoked {
				if !slices.Contains(res.Already, i) {
					res.Already = append(res.Already, i)
				}
			} else if !slices.Contains(res.Revoked, i) {
				res.Revoked = append(res.Revoked, i)
			}
		}
		if len(res.Revoked) == 0 {
			res.Whole, res.Final = m.Revoked, true
			return nil
		}
		if m.Expired || !now.Before(m.Expires) {
			return fmt.Errorf("%w at %s", ErrExpired, m.Expires.UTC().Format(time.RFC3339))
		}
		oldKey = v.keys.expiryKeyAt(m.ExpiryKey, m.ExpiryKeyID)
		res.Final = m.RecipientSecrets != nil
		for _, i := range res.Revoked {
			rr := recs[i]
			rr.Revoked = true
			out, err := json.Marshal(rr)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bRecipients).Put(m.Recipients[i], out); err != nil {
				return err
			}
			if i < len(m.RecipientSecrets) {
				m.RecipientSecrets[i] = nil
			}
			ev := Event{MessageID: id, Recipient: i, Kind: EventRevoked, At: now, By: by, Detail: reason}
			raw, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			if err := v.putEvent(tx, []byte(id), raw, ev); err != nil {
				return err
			}
		}
		whole := true
		for i := range m.Recipients {
			if r := recs[i]; r != nil && r.Revoked {
				continue
			}
			rr, err := recipientAt(tx, m, i)
			if err != nil {
				return err
			}
			whole = whole && rr.Revoked
		}
		if whole {
			// Nothing the hour's key opens leads to the content any more:
			// every recipient's secret is gone, and the escrow packet goes
			// too. The expiry secret stays for what lives until the expiry
			// (replies, vault.SealUntilExpiry), unless the wrapped keys need
			// it alone (a message accepted before recipient secrets).
			m.Revoked, m.Escrow = true, nil
			if m.RecipientSecrets == nil {
				m.ExpirySecret = nil
			}
			res.Whole, res.Final = true, true
		}
		out, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bParts).Put(metaKey(id), out); err != nil {
			return err
		}
		res.Jobs, err = v.dropNotifications(tx, id, res.Revoked)
		return err
	})
	if err != nil {
		return Revocation{}, fmt.Errorf("vault: revoke %s: %w", id, err)
	}
	if len(res.Revoked) > 0 && oldKey != nil {
		if err := v.replaceExpiryKey(oldKey); err != nil {
			v.shred.owe([]int64{oldKey.start.Unix()})
			v.kickSweep()
			return res, fmt.Errorf("vault: revoke %s: withdrawn, but the key of its hour was not replaced (until it is, copies made now open it with its link until %s): %w", id, oldKey.end.Format(time.RFC3339), err)
		}
	}
	return res, nil
}

// recipientAt reads recipient i's record of m.
func recipientAt(tx kv.Tx, m *messageRecord, i int) (*recipientRecord, error) {
	b, err := tx.Bucket(bRecipients).Get(m.Recipients[i])
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("message %s recipient %d: %w", m.ID, i, ErrNotFound)
	}
	var rr recipientRecord
	if err := json.Unmarshal(b, &rr); err != nil {
		return nil, fmt.Errorf("message %s recipient %d: %w", m.ID, i, err)
	}
	return &rr, nil
}

// dropNotifications deletes the notify jobs of message id's recipients
// that no claim holds, with their sealed tokens, and returns how many.
func (v *Vault) dropNotifications(tx kv.Tx, id string, recipients []int) (int, error) {
	type found struct {
		id uint64
		r  jobRecord
	}
	var drop []found
	err := tx.Bucket(bOutbox).Range(kv.Range{}, func(k, b []byte) error {
		if len(k) != 8 || !bytes.Contains(b, []byte(id)) {
			return nil
		}
		var r jobRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("job %x: %w", k, err)
		}
		if r.MessageID == id && r.Kind == JobNotify && !r.Leased && slices.Contains(recipients, r.Recipient) {
			drop = append(drop, found{binary.BigEndian.Uint64(k), r})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, d := range drop {
		if err := v.removeJob(tx, d.id, &d.r); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}

// sealRecipientSecret seals recipient index's secret under its message's
// expiry key.
func sealRecipientSecret(k *expiryKey, id string, index int, secret []byte) []byte {
	return sealAt(k.secret, infoRecipient, id, index, secret)
}

func openRecipientSecret(k *expiryKey, id string, index int, sealed []byte) ([]byte, error) {
	return openAt(k.secret, infoRecipient, id, index, sealed, "sealed recipient secret")
}

// wrapSecret returns what recipient index's wrapped key needs besides the
// token, in a fresh buffer the caller clears: the expiry secret and the
// recipient's own secret (the expiry secret alone for a message accepted
// before recipient secrets). ErrRevoked once the recipient's secret is
// gone, ErrExpired once the expiry key is.
func (v *Vault) wrapSecret(m *messageRecord, index int) ([]byte, error) {
	secret, done, err := v.expirySecret(m)
	if err != nil {
		return nil, err
	}
	defer done()
	if m.RecipientSecrets == nil {
		return bytes.Clone(secret), nil
	}
	if index >= len(m.RecipientSecrets) || m.RecipientSecrets[index] == nil {
		return nil, fmt.Errorf("message %s recipient %d: %w", m.ID, index, ErrRevoked)
	}
	k := v.keys.expiryKeyAt(m.ExpiryKey, m.ExpiryKeyID)
	if k == nil {
		return nil, fmt.Errorf("message %s: %w (its expiry key is gone)", m.ID, ErrExpired)
	}
	own, err := openRecipientSecret(k, m.ID, index, m.RecipientSecrets[index])
	if err != nil {
		return nil, fmt.Errorf("message %s recipient %d: %w", m.ID, index, err)
	}
	out := append(append(make([]byte, 0, len(secret)+len(own)), secret...), own...)
	clear(own)
	return out, nil
}

// resealRecipientSecrets seals the recipient secrets sealed under from
// again under to (withdrawn ones stay gone).
func resealRecipientSecrets(m *messageRecord, from, to *expiryKey) error {
	for i, sealed := range m.RecipientSecrets {
		if sealed == nil {
			continue
		}
		own, err := openRecipientSecret(from, m.ID, i, sealed)
		if err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		m.RecipientSecrets[i] = sealRecipientSecret(to, m.ID, i, own)
		clear(own)
	}
	return nil
}
