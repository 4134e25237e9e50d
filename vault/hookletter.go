package vault

import (
	"encoding/json"
	"fmt"

	"sigill/vault/kv"
)

// eventLetter is the letter of the event the hooks are running for, read
// at most once for all of them. Every hook that files an event asks for its
// letter (the REST API's feed, the receipts mailbox), and each read decoded
// the message's and the recipient's records again, inside the committer,
// whose time is intake's. The appender seeds it with what it already has:
// Accept the letter itself, an outcome of the notifier the message record.
// Hooks write only their own tables, so the letter cannot change while they
// run.
type eventLetter struct {
	id        string
	recipient int
	msg       *messageRecord // when the appender has read it; else read here
	letter    *Letter        // when known
	err       error
}

func (e *eventLetter) get(v *Vault, tx kv.Tx) (Letter, error) {
	if e.letter == nil && e.err == nil {
		l, err := v.readLetter(tx, e.id, e.recipient, e.msg)
		e.letter, e.err = &l, err
	}
	return *e.letter, e.err
}

// readLetter is letterByID with the message record read already when m is
// not nil.
func (v *Vault) readLetter(tx kv.Tx, id string, recipient int, m *messageRecord) (Letter, error) {
	if m == nil {
		return v.letterByID(tx, id, recipient)
	}
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
