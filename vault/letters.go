package vault

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigill/vault/kv"
)

// Reads of one event or one letter by id, for packages that keep an
// event's Seq or a letter's id and come back for them later.

// Owner is the staff account the letter belongs to, whom its receipts go
// to: the account that submitted it, or for relayed mail the envelope
// sender, lower cased. "" for a relayed message with a null sender.
func (l Letter) Owner() string {
	return ownerOf(l.Account, l.Sender)
}

func ownerOf(account, sender string) string {
	if account != "" {
		return strings.ToLower(account)
	}
	return strings.ToLower(sender)
}

// EventBySeq returns one event by its sequence number. ErrNotFound once
// purged (or never recorded).
func (v *Vault) EventBySeq(seq uint64) (Event, error) {
	var ev Event
	err := v.view(func(tx kv.Tx) error {
		var err error
		ev, err = eventBySeq(tx, seq)
		return err
	})
	if err != nil {
		return Event{}, fmt.Errorf("vault: event %d: %w", seq, err)
	}
	return ev, nil
}

func eventBySeq(tx kv.Tx, seq uint64) (Event, error) {
	b, err := tx.Bucket(bEvents).Get(seqKey(seq))
	if err != nil {
		return Event{}, err
	}
	if b == nil {
		return Event{}, ErrNotFound
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return Event{}, err
	}
	ev.Seq = seq
	return ev, nil
}

// LetterByID tells what one recipient's copy of a message is, by message id
// and recipient index, decrypting nothing: what receipts are made from.
// ErrNotFound for an unknown message or recipient (or one purged at audit
// retention).
func (v *Vault) LetterByID(id string, recipient int) (Letter, error) {
	var l Letter
	err := v.view(func(tx kv.Tx) error {
		var err error
		l, err = v.letterByID(tx, id, recipient)
		return err
	})
	if err != nil {
		return Letter{}, fmt.Errorf("vault: letter %s/%d: %w", id, recipient, err)
	}
	return l, nil
}

func (v *Vault) letterByID(tx kv.Tx, id string, recipient int) (Letter, error) {
	m, err := getMessage(tx, id)
	if err != nil {
		return Letter{}, err
	}
	return v.letterOfRecord(tx, m, recipient)
}

// letterOfRecord is recipient's letter of m, read already.
func (v *Vault) letterOfRecord(tx kv.Tx, m *messageRecord, recipient int) (Letter, error) {
	id := m.ID
	if recipient < 0 || recipient >= len(m.Recipients) {
		return Letter{}, fmt.Errorf("message %s has no recipient %d: %w", id, recipient, ErrNotFound)
	}
	b, err := tx.Bucket(bRecipients).Get(m.Recipients[recipient])
	if err != nil {
		return Letter{}, err
	}
	if b == nil {
		return Letter{}, fmt.Errorf("message %s recipient %d: %w", id, recipient, ErrNotFound)
	}
	var rr recipientRecord
	if err := json.Unmarshal(b, &rr); err != nil {
		return Letter{}, fmt.Errorf("recipient record: %w", err)
	}
	return v.letterOf(m, &rr), nil
}
