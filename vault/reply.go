package vault

// Replies from the reader's page, and what the vault gives them: an event
// kind, a seal that the gateway opens until the message expires, and an
// event recorded in one transaction with the caller's record of it.
//
// Which key: a reply is written by the reader, who holds the link token,
// and read by the sender, who never holds a link (the vault keeps only the
// token's hash). So it cannot be sealed under the token: the gateway must
// open it for the sender (the mail it sends, the IMAP mailbox) without one.
// It is sealed under a key derived from the message's expiry secret, the
// one secret the gateway holds for a message and only until it expires:
// the secret is itself sealed under the key store's expiry key of the
// message's hour, which is replaced within a minute of the expiry and
// destroyed when the hour ends. So a reply follows its message's lifetime
// exactly (SetExpiry carries it along, since the secret does not change),
// and a copy of the vault file opens it only with the key file and the key
// store as they were before that: weaker than the message itself, which
// also needs a token, as weak as the sender's need to read it makes it.

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"sigill/vault/kv"
)

// EventReplied is recorded when the recipient answers from the reader's
// page: PersonalNumber and Name are who (from BankID), IP where from. What
// they wrote is kept by the caller, sealed with SealUntilExpiry.
const EventReplied EventKind = "replied"

func init() { eventKinds[EventReplied] = true }

// infoUntilExpiry derives the keys of SealUntilExpiry.
const infoUntilExpiry = "sigill vault v2: sealed until expiry"

// SealUntilExpiry encrypts plain (as a message is: one OpenPGP SEIPDv2
// packet) under a key derived from message id's expiry secret and label,
// which names what is sealed (a reply's own name): OpenUntilExpiry opens it
// with the same label until the message expires, and nothing opens it
// after (see the top of this file). ErrExpired once the message has expired.
func (v *Vault) SealUntilExpiry(id, label string, plain []byte) ([]byte, error) {
	var ct []byte
	err := v.withUntilExpiryKey(id, label, func(key []byte) error {
		var err error
		ct, err = encryptMessage(plain, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vault: seal until expiry: %w", err)
	}
	return ct, nil
}

// OpenUntilExpiry decrypts what SealUntilExpiry sealed for message id under
// label. ErrExpired from the message's expiry on, ErrNotFound once its
// record is purged.
func (v *Vault) OpenUntilExpiry(id, label string, sealed []byte) ([]byte, error) {
	var plain []byte
	err := v.withUntilExpiryKey(id, label, func(key []byte) error {
		var err error
		plain, err = decryptMessage(sealed, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vault: open until expiry: %w", err)
	}
	return plain, nil
}

func (v *Vault) withUntilExpiryKey(id, label string, fn func(key []byte) error) error {
	var key []byte
	err := v.view(func(tx kv.Tx) error {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		if m.Expired || !v.now().Before(m.Expires) {
			return ErrExpired
		}
		secret, done, err := v.expirySecret(m)
		if err != nil {
			return err
		}
		defer done()
		key, err = hkdf.Key(sha256.New, secret, []byte(id), infoUntilExpiry+"\x00"+id+"\x00"+label, sessionKeySize)
		return err
	})
	if err != nil {
		return err
	}
	defer clear(key)
	return fn(key)
}

// RecordWithin is Record with the caller's own write in the same
// transaction: within runs after the event is appended (its Seq set), with
// a Tx open to tables (the caller's, declared in a Hook), so that what the
// caller keeps about the event is on disk with it, in one fsync, or not at
// all. It may run more than once (see Hook.Appended).
func (v *Vault) RecordWithin(ctx context.Context, ev Event, tables []string, within func(tx Tx, ev Event) error) error {
	if !eventKinds[ev.Kind] {
		return fmt.Errorf("vault: record: unknown event kind %q", ev.Kind)
	}
	if ev.Kind == EventRevoked {
		return errors.New("vault: record: a withdrawal is recorded by Revoke, not Record")
	}
	if ev.At.IsZero() {
		ev.At = v.now()
	}
	ev.At = ev.At.UTC()
	ev.Seq = 0
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("vault: record: %w", err)
	}
	id := []byte(ev.MessageID)
	err = v.commit.update(ctx, func(tx kv.Tx) error {
		m, err := getMessage(tx, ev.MessageID)
		if err != nil {
			return err
		}
		if ev.Recipient < 0 || ev.Recipient >= len(m.Recipients) {
			return fmt.Errorf("message %s has no recipient %d: %w", ev.MessageID, ev.Recipient, ErrNotFound)
		}
		seq, err := v.putEventSeq(tx, id, b, ev)
		if err != nil || within == nil {
			return err
		}
		e := ev
		e.Seq = seq
		return within(v.storeTx(tx, tables), e)
	})
	if err != nil {
		return fmt.Errorf("vault: record %s event: %w", ev.Kind, err)
	}
	return nil
}
