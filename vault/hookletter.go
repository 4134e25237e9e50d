package vault

import "sigill/vault/kv"

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
		var l Letter
		var err error
		if e.msg != nil {
			l, err = v.letterOfRecord(tx, e.msg, e.recipient)
		} else {
			l, err = v.letterByID(tx, e.id, e.recipient)
		}
		e.letter, e.err = &l, err
	}
	return *e.letter, e.err
}
