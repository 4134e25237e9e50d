package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Stats counts what the vault holds.
type Stats struct {
	Messages   int   // messages with metadata (content may have expired)
	Recipients int   // recipient records
	Outbox     int   // jobs not yet done
	Events     int   // audit events
	FileBytes  int64 // size of the bbolt file on disk
}

// Stats counts the records in each bucket.
//
// Stats walks every page of the counted buckets: seconds for a vault of a
// million messages. Health checks use Ping.
func (v *Vault) Stats() (Stats, error) {
	var s Stats
	err := v.view(func(tx *bolt.Tx) error {
		s.Messages = tx.Bucket(bMessages).Stats().KeyN
		s.Recipients = tx.Bucket(bRecipients).Stats().KeyN
		s.Outbox = tx.Bucket(bOutbox).Stats().KeyN
		s.Events = tx.Bucket(bEvents).Stats().KeyN
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("vault: stats: %w", err)
	}
	fi, err := os.Stat(v.path)
	if err != nil {
		return Stats{}, fmt.Errorf("vault: stats: %w", err)
	}
	s.FileBytes = fi.Size()
	return s, nil
}

// Ping tells whether the vault answers: a read transaction that finds its
// schema. It costs the same for any size of vault.
func (v *Vault) Ping() error {
	return v.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get(kSchema) == nil {
			return errors.New("vault: no schema version")
		}
		return nil
	})
}

// Backup writes a consistent copy of the whole vault file to w while the
// vault keeps working (bbolt's Tx.WriteTo in a read transaction). The copy
// is the file page for page, free pages included: it holds what the vault
// file holds, deleted records too, none of it readable without the key
// store's keys. It holds neither the key file nor the key store (see the
// package doc, "What a copy opens", for what to back up beside it).
func (v *Vault) Backup(w io.Writer) (int64, error) {
	var n int64
	err := v.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("vault: backup %s: %w", v.path, err)
	}
	return n, nil
}

// EscrowMessage returns a message as one binary OpenPGP message (the escrow
// PKESK followed by the SEIPDv2 packet) that the organisation's escrow
// private key decrypts with any RFC 9580 implementation, e.g. for a lawful
// archive export. ErrNotFound for an unknown id, ErrExpired once the
// content is gone; an error when no escrow key was set at acceptance.
func (v *Vault) EscrowMessage(id string) ([]byte, error) {
	var out []byte
	err := v.view(func(tx *bolt.Tx) error {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		ct := tx.Bucket(bContent).Get([]byte(id))
		if m.Expired || ct == nil {
			return ErrExpired
		}
		if len(m.Escrow) == 0 {
			return fmt.Errorf("message %s was accepted without an escrow key", id)
		}
		expiry := v.keys.expiryKeyAt(m.ExpiryKey, m.ExpiryKeyID)
		if expiry == nil {
			return ErrExpired // its period has ended: the sweep comes
		}
		pkesk, err := openEscrow(expiry, id, m.Escrow)
		if err != nil {
			return fmt.Errorf("message %s: %w", id, err)
		}
		out = make([]byte, 0, len(pkesk)+len(ct))
		out = append(append(out, pkesk...), ct...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: escrow export: %w", err)
	}
	return out, nil
}

// maxFaults bounds how many faults Verify reports.
const maxFaults = 100

// Verify opens a vault file read-only (a running vault holds the lock, so
// verify a backup, or stop sigill first), runs bbolt's page check and then
// checks the vault's own structure: schema, buckets, and that messages,
// recipients, outbox jobs, events and the sweeper's indexes refer to each
// other. It returns nil for a sound file, or every fault found (up to 100).
func Verify(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("vault: verify: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: defaultLockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("vault: verify %s: %w", path, ErrLocked)
		}
		return fmt.Errorf("vault: verify %s: %w", path, err)
	}
	defer db.Close()
	var faults []error
	fault := func(format string, args ...any) bool {
		faults = append(faults, fmt.Errorf(format, args...))
		return len(faults) < maxFaults
	}
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if !fault("bbolt: %w", err) {
				return nil
			}
		}
		if len(faults) > 0 {
			return nil // structure checks on a damaged file would only add noise
		}
		for _, name := range coreBuckets {
			if tx.Bucket(name) == nil {
				fault("bucket %s missing", name)
			}
		}
		if len(faults) > 0 {
			return nil
		}
		if s := tx.Bucket(bMeta).Get(kSchema); string(s) != schemaVersion {
			fault("schema version %q, want %q", s, schemaVersion)
		}
		checkStructure(tx, fault)
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: verify %s: %w", path, err)
	}
	if len(faults) > 0 {
		return fmt.Errorf("vault: verify %s: %d faults: %w", path, len(faults), errors.Join(faults...))
	}
	return nil
}

func checkStructure(tx *bolt.Tx, fault func(string, ...any) bool) {
	msgs, recips, content := tx.Bucket(bMessages), tx.Bucket(bRecipients), tx.Bucket(bContent)
	expireDue, purgeDue := tx.Bucket(bExpireDue), tx.Bucket(bPurgeDue)
	stop := errors.New("too many faults")
	_ = msgs.ForEach(func(k, b []byte) error {
		var m messageRecord
		if err := json.Unmarshal(b, &m); err != nil {
			if !fault("message %q: %v", k, err) {
				return stop
			}
			return nil
		}
		more := true
		report := func(format string, args ...any) {
			if more {
				more = fault("message %s: "+format, append([]any{m.ID}, args...)...)
			}
		}
		if m.ID != string(k) {
			report("stored under key %q", k)
		}
		inExpire, inPurge := expireDue.Get(dueKey(m.Expires, m.ID)) != nil, purgeDue.Get(dueKey(m.Received, m.ID)) != nil
		if inExpire == inPurge {
			report("in %d sweep indexes, want 1", btoi(inExpire)+btoi(inPurge))
		}
		hasContent := content.Get(k) != nil
		if m.Expired == hasContent || m.Expired != inPurge {
			report("expired=%v but content held=%v, in purge index=%v", m.Expired, hasContent, inPurge)
		}
		for i, h := range m.Recipients {
			rb := recips.Get(h)
			if rb == nil {
				report("recipient %d missing", i)
				continue
			}
			var rr recipientRecord
			if err := json.Unmarshal(rb, &rr); err != nil || rr.Message != m.ID || rr.Index != i {
				report("recipient %d record does not refer back (%v)", i, err)
				continue
			}
			if (rr.Wrapped == nil) != m.Expired {
				report("recipient %d wrapped key held=%v, message expired=%v", i, rr.Wrapped != nil, m.Expired)
			}
		}
		if !more {
			return stop
		}
		return nil
	})
	_ = recips.ForEach(func(k, b []byte) error {
		var rr recipientRecord
		if err := json.Unmarshal(b, &rr); err != nil {
			if !fault("recipient %x: %v", k[:4], err) {
				return stop
			}
			return nil
		}
		if msgs.Get([]byte(rr.Message)) == nil && !fault("recipient %x: message %s missing", k[:4], rr.Message) {
			return stop
		}
		return nil
	})
	_ = tx.Bucket(bOutbox).ForEach(func(k, b []byte) error {
		var j jobRecord
		if err := json.Unmarshal(b, &j); err != nil || len(k) != 8 {
			if !fault("job %x: %v", k, err) {
				return stop
			}
			return nil
		}
		if msgs.Get([]byte(j.MessageID)) == nil && !fault("job %x: message %s missing", k, j.MessageID) {
			return stop
		}
		return nil
	})
	events := tx.Bucket(bEvents)
	indexed := 0
	_ = tx.Bucket(bEventIndex).ForEach(func(k, _ []byte) error {
		indexed++
		if len(k) <= 8 || events.Get(k[len(k)-8:]) == nil {
			if !fault("event index entry %x: no such event", k) {
				return stop
			}
		}
		return nil
	})
	if n := events.Stats().KeyN; n != indexed {
		fault("%d events but %d index entries", n, indexed)
	}
	_ = events.ForEach(func(k, b []byte) error {
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			if !fault("event %x: %v", k, err) {
				return stop
			}
			return nil
		}
		if tx.Bucket(bEventIndex).Get(append([]byte(ev.MessageID), k...)) == nil && !fault("event %x: not indexed", k) {
			return stop
		}
		if msgs.Get([]byte(ev.MessageID)) == nil && !fault("event %x: message %s missing", k, ev.MessageID) {
			return stop
		}
		return nil
	})
	for _, b := range []*bolt.Bucket{expireDue, purgeDue} {
		_ = b.ForEach(func(k, _ []byte) error {
			if len(k) <= 8 || msgs.Get(k[8:]) == nil {
				if !fault("sweep index entry %x: no such message", k) {
					return stop
				}
			}
			return nil
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
