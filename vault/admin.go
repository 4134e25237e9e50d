package vault

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
)

// Stats counts what the vault holds.
type Stats struct {
	Messages   int   // messages with metadata (content may have expired)
	Recipients int   // recipient records
	Outbox     int   // jobs not yet done
	Events     int   // audit events
	FileBytes  int64 // size of the bbolt file on disk (the engine's "file_bytes"; 0 when it reports none)
}

// Stats counts the records in each bucket, and takes the file's size from
// the engine's figures (kv.Stater) when it has them.
//
// Stats walks every page of the counted buckets: seconds for a vault of a
// million messages. Health checks use Ping.
func (v *Vault) Stats() (Stats, error) {
	var s Stats
	err := v.view(func(tx kv.Tx) error {
		// Every message is in one sweep index (checkStructure says so), and
		// counting them leaves the contents' pages unread.
		var expiring, purging int
		for _, c := range []struct {
			n      *int
			bucket string
		}{{&expiring, bExpireDue}, {&purging, bPurgeDue}, {&s.Recipients, bRecipients}, {&s.Outbox, bOutbox}, {&s.Events, bEvents}} {
			var err error
			if *c.n, err = tx.Bucket(c.bucket).Count(); err != nil {
				return err
			}
		}
		s.Messages = expiring + purging
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("vault: stats: %w", err)
	}
	if st, ok := v.eng.(kv.Stater); ok {
		figures, err := st.Stats(context.Background())
		if err != nil {
			return Stats{}, fmt.Errorf("vault: stats: %w", err)
		}
		s.FileBytes = figures["file_bytes"]
	}
	return s, nil
}

// Ping tells whether the vault answers: a read transaction that finds its
// schema. It costs the same for any size of vault.
func (v *Vault) Ping() error {
	return v.view(func(tx kv.Tx) error {
		s, err := tx.Bucket(bMeta).Get(kSchema)
		if err == nil && s == nil {
			err = errors.New("vault: no schema version")
		}
		return err
	})
}

// Backup writes a consistent copy of the whole store to w while the vault
// keeps working, through the engine's own copy (kv.Backuper; bbolt's
// Tx.WriteTo in a read transaction). The bbolt copy is the file page for
// page, free pages included: it holds what the vault file holds, deleted
// records too, none of it readable without the key store's keys. It holds
// neither the key file nor the key store (see the package doc, "What a
// copy opens", for what to back up beside it). An engine without a copy of
// its own (PostgreSQL) is refused with ErrNoBackup: back it up with its
// own tools.
func (v *Vault) Backup(w io.Writer) (int64, error) {
	b, ok := v.eng.(kv.Backuper)
	if !ok {
		return 0, fmt.Errorf("vault: backup: %w", errNoAbility(v.eng, "backup"))
	}
	n, err := b.Backup(context.Background(), w)
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
	err := v.view(func(tx kv.Tx) error {
		m, err := getMessage(tx, id)
		if err != nil {
			return err
		}
		ct, err := tx.Bucket(bParts).Get(contentKey(id))
		if err != nil {
			return err
		}
		if m.Expired || ct == nil {
			return ErrExpired
		}
		if m.Revoked {
			return ErrRevoked
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

// ErrNoBackup and ErrNoCheck: the engine has no copy, or no check of its
// own structures, of its own (kv.Backuper, kv.Checker); the error names
// the engine and what to use instead.
var (
	ErrNoBackup = errors.New("the engine keeps no copy of its own")
	ErrNoCheck  = errors.New("the engine has no check of its own structures")
)

func errNoAbility(e kv.Engine, what string) error {
	switch what {
	case "backup":
		return fmt.Errorf("%w (%s): back the store up with the engine's own tools (PostgreSQL: pg_dump, or a base backup with WAL archiving)", ErrNoBackup, e.Name())
	default:
		return fmt.Errorf("%w (%s): the engine checks its pages itself (PostgreSQL: data checksums, pg_amcheck)", ErrNoCheck, e.Name())
	}
}

// Verify opens a vault file read-only (a running vault holds the lock, so
// verify a backup, or stop sigill first) and verifies it (VerifyStore).
// It returns nil for a sound file, or every fault found (up to 100).
func Verify(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("vault: verify: %w", err)
	}
	if err := ApplyLog(path); err != nil {
		return fmt.Errorf("vault: verify: %w", err)
	}
	e, err := boltkv.Open(path, &bolt.Options{ReadOnly: true, Timeout: defaultLockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("vault: verify %s: %w", path, ErrLocked)
		}
		return fmt.Errorf("vault: verify %s: %w", path, err)
	}
	defer e.Close()
	if err := VerifyStore(context.Background(), e); err != nil {
		return fmt.Errorf("vault: verify %s: %w", path, err)
	}
	return nil
}

// ApplyLog brings the vault file at path up to date with its write-ahead
// log (path+LogSuffix), when there is one: what sigill does at its next
// start, done now so that tools reading the file alone (verify, the
// migration to PostgreSQL) see every commit. It needs the file's lock, as
// they do: sigill stopped. A backup has no log and is left as it is.
func ApplyLog(path string) error {
	if _, err := os.Stat(path + LogSuffix); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	e, err := openFile(path, defaultLockTimeout)
	if errors.Is(err, ErrLocked) {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("applying %s: %w", path+LogSuffix, err)
	}
	return e.Close()
}

// VerifyStore runs the engine's check of its own structures (kv.Checker:
// bbolt's page check) and then checks the vault's: schema, buckets, and
// that messages, recipients, outbox jobs, events and the sweeper's indexes
// refer to each other. It returns nil for a sound store, or every fault
// found (up to 100). An engine without a check of its own gets the vault's
// checks, and then ErrNoCheck, naming the engine, unless they found faults.
func VerifyStore(ctx context.Context, e kv.Engine) error {
	var faults []error
	fault := func(format string, args ...any) bool {
		faults = append(faults, fmt.Errorf(format, args...))
		return len(faults) < maxFaults
	}
	checker, pages := e.(kv.Checker)
	if pages {
		for _, err := range checker.Check(ctx) {
			if !fault("%s: %w", e.Name(), err) {
				break
			}
		}
	}
	if len(faults) == 0 { // structure checks on a damaged file would only add noise
		err := kv.View(ctx, e, func(tx kv.Tx) error {
			for _, name := range coreBuckets {
				if _, err := tx.Bucket(name).Count(); errors.Is(err, kv.ErrNoBucket) {
					fault("bucket %s missing", name)
				} else if err != nil {
					return err
				}
			}
			if len(faults) > 0 {
				return nil
			}
			s, err := tx.Bucket(bMeta).Get(kSchema)
			if err != nil {
				return err
			}
			if string(s) != schemaVersion {
				fault("schema version %q, want %q", s, schemaVersion)
			}
			return checkStructure(tx, fault)
		})
		if err != nil {
			return err
		}
	}
	if len(faults) > 0 {
		return fmt.Errorf("%d faults: %w", len(faults), errors.Join(faults...))
	}
	if !pages {
		return errNoAbility(e, "check")
	}
	return nil
}

// checkStructure reports every fault in the vault's own structure; its
// error is the engine's (a read that failed), not a fault.
func checkStructure(tx kv.Tx, fault func(string, ...any) bool) error {
	parts, recips := tx.Bucket(bParts), tx.Bucket(bRecipients)
	expireDue, purgeDue := tx.Bucket(bExpireDue), tx.Bucket(bPurgeDue)
	events := tx.Bucket(bEvents)
	// has reports whether b holds k; a failed read ends the check.
	var readErr error
	has := func(b kv.Bucket, k []byte) bool {
		v, err := b.Get(k)
		if err != nil && readErr == nil {
			readErr = err
		}
		return v != nil
	}
	hasMessage := func(id string) bool { return has(parts, metaKey(id)) }
	stop := errors.New("too many faults")
	done := func(err error) bool { return readErr != nil || (err != nil && !errors.Is(err, stop)) }
	result := func(err error) error {
		if readErr != nil {
			return readErr
		}
		if errors.Is(err, stop) {
			return nil
		}
		return err
	}
	indexed := 0
	err := walk(parts, kv.Range{}, func(k, b []byte) error {
		id, part, seq, ok := splitPart(k)
		switch {
		case !ok:
			if !fault("message part %q: not a part's key", k) {
				return stop
			}
			return nil
		case part == partContent:
			if !hasMessage(id) && !fault("message %s: content without its record", id) {
				return stop
			}
			return nil
		case part == partEvent:
			indexed++
			if !has(events, seqKey(seq)) && !fault("event index entry %x: no such event", k) {
				return stop
			}
			return nil
		}
		var m messageRecord
		if err := json.Unmarshal(b, &m); err != nil {
			if !fault("message %q: %v", id, err) {
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
		if m.ID != id {
			report("stored under key %q", k)
		}
		inExpire, inPurge := has(expireDue, dueKey(m.Expires, m.ID)), has(purgeDue, dueKey(m.Received, m.ID))
		if inExpire == inPurge {
			report("in %d sweep indexes, want 1", btoi(inExpire)+btoi(inPurge))
		}
		hasContent := has(parts, contentKey(id))
		if m.Expired == hasContent || m.Expired != inPurge {
			report("expired=%v but content held=%v, in purge index=%v", m.Expired, hasContent, inPurge)
		}
		for i, h := range m.Recipients {
			rb, err := recips.Get(h)
			if err != nil {
				return err
			}
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
		if !more || readErr != nil {
			return stop
		}
		return nil
	})
	if done(err) {
		return result(err)
	}
	err = walk(recips, kv.Range{}, func(k, b []byte) error {
		var rr recipientRecord
		if err := json.Unmarshal(b, &rr); err != nil {
			if !fault("recipient %x: %v", k[:4], err) {
				return stop
			}
			return nil
		}
		if !hasMessage(rr.Message) && !fault("recipient %x: message %s missing", k[:4], rr.Message) {
			return stop
		}
		return nil
	})
	if done(err) {
		return result(err)
	}
	err = walk(tx.Bucket(bOutbox), kv.Range{}, func(k, b []byte) error {
		var j jobRecord
		if err := json.Unmarshal(b, &j); err != nil || len(k) != 8 {
			if !fault("job %x: %v", k, err) {
				return stop
			}
			return nil
		}
		if !hasMessage(j.MessageID) && !fault("job %x: message %s missing", k, j.MessageID) {
			return stop
		}
		return nil
	})
	if done(err) {
		return result(err)
	}
	n, err := events.Count()
	if err != nil {
		return err
	}
	if n != indexed {
		fault("%d events but %d index entries", n, indexed)
	}
	err = walk(events, kv.Range{}, func(k, b []byte) error {
		var ev Event
		if err := json.Unmarshal(b, &ev); err != nil {
			if !fault("event %x: %v", k, err) {
				return stop
			}
			return nil
		}
		if (len(k) != 8 || !has(parts, eventKey(ev.MessageID, binary.BigEndian.Uint64(k)))) && !fault("event %x: not indexed", k) {
			return stop
		}
		if !hasMessage(ev.MessageID) && !fault("event %x: message %s missing", k, ev.MessageID) {
			return stop
		}
		return nil
	})
	if done(err) {
		return result(err)
	}
	for _, b := range []kv.Bucket{expireDue, purgeDue} {
		err = walk(b, kv.Range{}, func(k, _ []byte) error {
			if len(k) <= 8 || !hasMessage(string(k[8:])) {
				if !fault("sweep index entry %x: no such message", k) {
					return stop
				}
			}
			return nil
		})
		if done(err) {
			return result(err)
		}
	}
	return result(nil)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
