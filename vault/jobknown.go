package vault

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigill/vault/kv"
)

// jobKnown is what the vault knew of a job when it gave it out: born
// leased by Accept (handoff.go) or leased by ClaimJobs. A job's outcome
// runs in the single committer, whose time is intake's; with this it
// reads the records it must fence on, compares them byte for byte with
// what it knew, and decodes nothing when they are equal. Equal bytes are
// the same record: any claim, release or retry of the job rewrites its
// record with another lease generation or state, and any change to the
// message or its recipient (a withdrawal, a new expiry) rewrites theirs.
// When they differ, the outcome reads and decodes them as it always has.
type jobKnown struct {
	record []byte    // the job's record as stored by the lease
	r      jobRecord // record, decoded

	// For a job born leased only: its message's and recipient's records
	// as Accept stored them (rcptKey is the recipient's key, its token's
	// hash), and the letter Accept built from them for the hooks, Expired
	// not yet told.
	msg, rcpt, rcptKey []byte
	letter             *Letter
}

// knownFor is what o's job carries of id under lease, or nil.
func (o Outcome) knownFor(id, lease uint64) *jobKnown {
	if o.Job == nil || o.Job.ID != id || o.Job.Lease != lease {
		return nil
	}
	k := o.Job.known
	if k == nil || !k.r.Leased || k.r.Lease != lease {
		return nil
	}
	return k
}

// letterIn is the letter of k's job as the hooks would read it in tx,
// when k knows it and its message's and recipient's records are still as
// Accept stored them; else nil, and the caller reads them.
func (v *Vault) letterIn(tx kv.Tx, k *jobKnown) (*Letter, error) {
	if k == nil || k.letter == nil {
		return nil, nil
	}
	m, err := tx.Bucket(bParts).Get(metaKey(k.r.MessageID))
	if err != nil || !bytes.Equal(m, k.msg) {
		return nil, err
	}
	rr, err := tx.Bucket(bRecipients).Get(k.rcptKey)
	if err != nil || !bytes.Equal(rr, k.rcpt) {
		return nil, err
	}
	l := *k.letter
	l.Expired = !v.now().Before(l.Expires) // as letterOf tells it of these records
	return &l, nil
}

// Withdrawn tells whether the sender has withdrawn the copy a notify job's
// link opens (what Lookup tells as LinkRevoked), for the notifier's check
// before each send. It reads the recipient's record only (and the
// message's when it is withdrawn); for a job born leased whose recipient
// record is still as Accept stored it, it decodes nothing. A job of
// another kind, or whose token the vault does not know, is not withdrawn.
func (v *Vault) Withdrawn(j Job) (bool, error) {
	if j.Kind != JobNotify {
		return false, nil
	}
	var key []byte
	if j.known != nil && j.known.rcptKey != nil {
		key = j.known.rcptKey
	} else {
		raw, ok := parseToken(j.Token)
		if !ok {
			return false, nil
		}
		key = tokenHash(raw)
		clear(raw)
	}
	var withdrawn bool
	err := v.view(func(tx kv.Tx) error {
		b, err := tx.Bucket(bRecipients).Get(key)
		if err != nil || b == nil {
			return err
		}
		if j.known != nil && bytes.Equal(b, j.known.rcpt) {
			return nil // as accepted: not withdrawn
		}
		var rr struct {
			Message string `json:"message"`
			Revoked bool   `json:"revoked"`
		}
		if err := json.Unmarshal(b, &rr); err != nil {
			return err
		}
		if !rr.Revoked {
			return nil
		}
		m, err := tx.Bucket(bParts).Get(metaKey(rr.Message))
		withdrawn = m != nil // as Lookup: a copy whose message is gone is unknown
		return err
	})
	if err != nil {
		return false, fmt.Errorf("vault: withdrawn: %w", err)
	}
	return withdrawn, nil
}
