package vault

// The storage core's side of the outbox (the Outbox interface, outbox.go):
// claiming due jobs under a lease with a fencing generation, and recording
// each job's outcome, as the notifier words it (Outcome), together with its
// event in one transaction. What an outcome is, when to retry, how long a
// lease lasts and what a provider's status words mean are the notifier's.
//
// outbox_due (big-endian due ns ‖ big-endian job id → nothing) lists the
// outbox's jobs by due time, so that a claim reads only what is due and
// never scans the outbox. Accept writes jobs without knowing this list
// (also those born leased for the notifier's handoff, handoff.go, entered
// with the end of their lease); every claim first enters the jobs added
// since the last one (the meta key outbox_indexed remembers the highest
// job id entered). An entry whose job
// is gone (Sweep drops the jobs of expired messages) is removed when a
// claim meets it.
//
// JobsDue, which the notifier asks before each claim, only reads: the
// jobs added since the last claim are few (a claim enters them all, and a
// job done is deleted), and it reads their due times where they are. So a
// job born leased and done before a claim came due is never entered at
// all (no entry put and deleted, no mark written, no write of the
// notifier's for it in the committer); one whose node died is found by
// any node's JobsDue once its lease has run out, and the claim that
// follows enters it and takes it.
//
// The delivery records that map a provider's id back to its notification
// are the notifier's, kept by its hook on the "notified" event that
// CompleteJob appends (notifier/deliveries.go).
//
// Every write goes through the vault's group committer, like Accept. Claims
// and job outcomes ride along (commit.go): while accepts are coming in each
// joins the next commit another writer starts, or commits alone after 10 ms,
// so the notifier adds no commits of its own to a steady stream of accepts;
// with nothing else being written they commit at once.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"sigill/vault/kv"
)

const bOutboxDue = "outbox_due" // big-endian due ns ‖ big-endian job id → nothing: notify jobs by due time

var kOutboxIndexed = []byte("outbox_indexed") // meta: highest job id entered in outbox_due

// ErrLeaseLost is an outcome refused because the claim it comes from is no
// longer the job's: the lease ran out and another claim took the job (or
// ReleaseClaims gave it back), so the outcome is the other claim's to
// record. Fencing: a worker that wakes up late cannot record over another's
// work.
var ErrLeaseLost = errors.New("the job's lease is no longer this claim's")

func dueIndexKey(due time.Time, id uint64) []byte {
	ns := due.UnixNano()
	if ns < 0 {
		ns = 0
	}
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(ns))
	return binary.BigEndian.AppendUint64(k, id)
}

func dueIndexTime(k []byte) int64 {
	return int64(binary.BigEndian.Uint64(k[:8]))
}

func indexedMark(tx kv.Tx) (uint64, error) {
	b, err := tx.Bucket(bMeta).Get(kOutboxIndexed)
	if len(b) == 8 {
		return binary.BigEndian.Uint64(b), nil
	}
	return 0, err
}

// indexNewJobs enters the jobs added to the outbox since the last call
// (by Accept, or with a receipt) into outbox_due.
func indexNewJobs(tx kv.Tx) error {
	mark, err := indexedMark(tx)
	if err != nil {
		return err
	}
	type added struct {
		id  uint64
		due time.Time
	}
	var news []added
	err = tx.Bucket(bOutbox).Range(kv.Range{Start: seqKey(mark + 1)}, func(k, b []byte) error {
		if len(k) != 8 {
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		var r struct {
			Due time.Time `json:"due"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		news = append(news, added{id, r.Due})
		return nil
	})
	if err != nil || len(news) == 0 {
		return err
	}
	due := tx.Bucket(bOutboxDue)
	for _, n := range news {
		if err := due.Put(dueIndexKey(n.due, n.id), nil); err != nil {
			return err
		}
	}
	return tx.Bucket(bMeta).Put(kOutboxIndexed, seqKey(news[len(news)-1].id))
}

// hasWork tells, reading only, whether a claim at now could find anything:
// jobs not yet indexed, or an index entry that is due.
func hasWork(tx kv.Tx, now time.Time) (bool, error) {
	if news, err := hasUnindexed(tx); news || err != nil {
		return news, err
	}
	return hasDueEntry(tx, now)
}

// hasUnindexed tells whether jobs were added since the last indexNewJobs.
func hasUnindexed(tx kv.Tx) (bool, error) {
	mark, err := indexedMark(tx)
	if err != nil {
		return false, err
	}
	k, _, err := kv.First(tx.Bucket(bOutbox), kv.Range{Reverse: true})
	return len(k) == 8 && binary.BigEndian.Uint64(k) > mark, err
}

// hasDueEntry tells whether outbox_due has an entry due at now.
func hasDueEntry(tx kv.Tx, now time.Time) (bool, error) {
	k, _, err := kv.First(tx.Bucket(bOutboxDue), kv.Range{})
	return k != nil && (len(k) != 16 || dueIndexTime(k) <= now.UnixNano()), err
}

// JobsDue tells whether a claim at now would find a due job (short of
// another node's claim taking it first): an entry of outbox_due that is
// due, or a job added since the last claim (not yet entered there) that is.
// It only reads (see above). The notifier asks it before it sets room
// aside for a claim (Handoff): the jobs of a stream of accepts born leased
// are added, yet none is due, and room set aside in vain is room Accept
// cannot hand jobs over in.
func (v *Vault) JobsDue(now time.Time) (bool, error) {
	now = now.UTC()
	var due bool
	err := v.view(func(tx kv.Tx) (err error) {
		if due, err = hasDueEntry(tx, now); due || err != nil {
			return err
		}
		due, err = unindexedDue(tx, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("vault: jobs due: %w", err)
	}
	return due, nil
}

// unindexedDue tells whether a job added since the last indexNewJobs is
// due at now.
func unindexedDue(tx kv.Tx, now time.Time) (bool, error) {
	mark, err := indexedMark(tx)
	if err != nil {
		return false, err
	}
	due := false
	err = tx.Bucket(bOutbox).Range(kv.Range{Start: seqKey(mark + 1)}, func(k, b []byte) error {
		if len(k) != 8 {
			return nil
		}
		var r struct {
			Due time.Time `json:"due"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("job %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if !r.Due.After(now) {
			due = true
			return kv.Stop
		}
		return nil
	})
	return due, err
}

type rawJob struct {
	k, b  []byte
	lease uint64
}

// ClaimJobs takes up to max jobs (of every kind: "notify", and "receipt"
// when receipts are mailed) that are due at now, oldest due first, and
// leases them: in one committed transaction each job's Attempts
// is counted up, its Due moved to now+lease and its lease generation
// (Job.Lease) counted up, so no other claim takes it while it is being
// sent, and a job whose worker died comes back once the lease has passed
// (or at once after ReleaseClaims), in doubt. The jobs are returned with
// their tokens unsealed and the generation their outcome must carry. When
// nothing is due, nothing is written.
//
// A job whose sealed token does not open (a damaged record) is given up
// (a failed event) rather than returned, so it cannot block the queue.
func (v *Vault) ClaimJobs(now time.Time, max int, lease time.Duration) ([]Job, error) {
	if max <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, errors.New("vault: claim jobs: lease must be positive")
	}
	now = now.UTC()
	var work bool
	if err := v.view(func(tx kv.Tx) (err error) { work, err = hasWork(tx, now); return err }); err != nil {
		return nil, fmt.Errorf("vault: claim jobs: %w", err)
	}
	if !work {
		return nil, nil
	}
	// The key store destroys no outbox key while a claimed job's token is
	// not yet unsealed; the unsealing is done outside the committer, whose
	// time is intake's.
	v.keys.openMu.RLock()
	claimed, err := v.leaseDue(now, now.Add(lease), max)
	jobs := make([]Job, 0, len(claimed))
	var damaged []rawJob
	for _, r := range claimed {
		j, rec, err := v.decodeJobRecord(r.k, r.b)
		if err != nil {
			damaged = append(damaged, r)
			continue
		}
		j.known = &jobKnown{record: r.b, r: rec} // r.b is leaseDue's own encoding
		jobs = append(jobs, j)
	}
	v.keys.openMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("vault: claim jobs: %w", err)
	}
	var faults []error
	for _, r := range damaged {
		o := Outcome{Event: EventFailed, Reason: "the sealed link token does not open (damaged, or its outbox key is gone from the key store)"}
		if ferr := v.CompleteJob(binary.BigEndian.Uint64(r.k), r.lease, o); ferr != nil {
			faults = append(faults, ferr)
		}
	}
	if len(faults) > 0 {
		return jobs, fmt.Errorf("vault: claim jobs: %w", errors.Join(faults...))
	}
	return jobs, nil
}

// leaseDue claims up to max jobs due at now until until, in one committed
// transaction, and returns their ids and records.
func (v *Vault) leaseDue(now, until time.Time, max int) ([]rawJob, error) {
	var claimed []rawJob
	err := v.commit.rideAlong(func(tx kv.Tx) error {
		claimed = claimed[:0] // fn may run again after another request's rollback
		if err := indexNewJobs(tx); err != nil {
			return err
		}
		due, outbox := tx.Bucket(bOutboxDue), tx.Bucket(bOutbox)
		// Keys first, then changes: Range's fn may not use the transaction.
		// Room for a few stale entries beyond max.
		// SkipLocked: entries another node's claim holds are left to it.
		var keys [][]byte
		err := due.Range(kv.Range{Limit: 2*max + 16, SkipLocked: true}, func(k, _ []byte) error {
			if len(k) == 16 && dueIndexTime(k) > now.UnixNano() {
				return kv.Stop
			}
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if len(claimed) == max {
				break
			}
			if err := due.Delete(k); err != nil {
				return err
			}
			if len(k) != 16 {
				continue
			}
			idKey := k[8:]
			id := binary.BigEndian.Uint64(idKey)
			b, err := outbox.Get(idKey)
			if err != nil {
				return err
			}
			if b == nil {
				continue // done or dropped (Sweep): a stale entry
			}
			var r jobRecord
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			}
			if want := dueIndexKey(r.Due, id); !bytes.Equal(want, k) {
				// The entry is older than the job's due time: keep the right one.
				if err := due.Put(want, nil); err != nil {
					return err
				}
				continue
			}
			if r.Leased {
				r.markInDoubt() // its lease ran out with no outcome recorded
			}
			r.Attempts++
			r.Lease++
			r.Due = until
			r.Leased = true
			r.Claimed = now
			r.Node = v.opt.NodeID
			out, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := outbox.Put(idKey, out); err != nil {
				return err
			}
			if err := due.Put(dueIndexKey(until, id), nil); err != nil {
				return err
			}
			claimed = append(claimed, rawJob{idKey, out, r.Lease})
		}
		return nil
	})
	return claimed, err
}

// markInDoubt records that the job's latest claim ended without an outcome:
// from its start on, the provider may have the message.
func (r *jobRecord) markInDoubt() {
	since := r.Claimed
	if since.IsZero() {
		since = r.Created // leased by a version that kept no claim time
	}
	if r.InDoubtSince.IsZero() || since.Before(r.InDoubtSince) {
		r.InDoubtSince = since
	}
}

// ReleaseClaims makes every job leased by this node (Options.NodeID) due at
// now, marks it in doubt (see Job.InDoubtSince), ends its lease generation
// (an outcome of the old claim is refused: ErrLeaseLost), and returns how
// many there were. A process calls it once before its first claim: a lease
// of its node found then was left by its previous run, and its jobs need
// not wait out the lease. On a bbolt file, which one process holds, every
// lease is such a one and all are released; on a store shared by nodes,
// other nodes' leases are theirs (live ones) or run out (dead ones), and
// ClaimJobs takes them then. Only one claimer may run per vault while this
// is called.
func (v *Vault) ReleaseClaims(now time.Time) (int, error) {
	now = now.UTC()
	var n int
	err := v.commit.update(context.Background(), func(tx kv.Tx) error {
		n = 0
		if err := indexNewJobs(tx); err != nil {
			return err
		}
		due, outbox := tx.Bucket(bOutboxDue), tx.Bucket(bOutbox)
		var leased []rawJob
		err := outbox.Range(kv.Range{}, func(k, b []byte) error {
			var r struct {
				Leased bool   `json:"leased"`
				Node   string `json:"node"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("job %x: %w", k, err)
			}
			if r.Leased && len(k) == 8 && (v.exclusive || r.Node == v.opt.NodeID || r.Node == "") {
				leased = append(leased, rawJob{k: bytes.Clone(k), b: bytes.Clone(b)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, l := range leased {
			var r jobRecord
			if err := json.Unmarshal(l.b, &r); err != nil {
				return err
			}
			id := binary.BigEndian.Uint64(l.k)
			if err := due.Delete(dueIndexKey(r.Due, id)); err != nil {
				return err
			}
			r.markInDoubt()
			r.Due, r.Leased = now, false
			r.Lease++
			out, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := outbox.Put(l.k, out); err != nil {
				return err
			}
			if err := due.Put(dueIndexKey(now, id), nil); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			tx.Notify(ChannelOutbox)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("vault: release claims: %w", err)
	}
	return n, nil
}

// jobUpdate runs fn on job id's record inside a committed write transaction
// shared with other writers, if the claim of generation lease still holds
// it. ErrNotFound when the job is no longer in the outbox (already done, or
// dropped by Sweep); ErrLeaseLost when another claim has it, or none.
// known, when not nil, is what the vault knew of the job under that lease:
// a record still byte for byte as it was then is not decoded again, and
// fn is told so (asKnown).
func (v *Vault) jobUpdate(op string, id, lease uint64, known *jobKnown, fn func(tx kv.Tx, r *jobRecord, asKnown bool) error) error {
	err := v.commit.rideAlong(func(tx kv.Tx) error {
		b, err := tx.Bucket(bOutbox).Get(seqKey(id))
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("job %d: %w", id, ErrNotFound)
		}
		if known != nil && bytes.Equal(b, known.record) {
			r := known.r // fn may change it, and run again
			return fn(tx, &r, true)
		}
		var r jobRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		if !r.Leased || r.Lease != lease {
			return fmt.Errorf("job %d, lease %d (now %d, leased %t): %w", id, lease, r.Lease, r.Leased, ErrLeaseLost)
		}
		return fn(tx, &r, false)
	})
	if err != nil {
		return fmt.Errorf("vault: %s: %w", op, err)
	}
	return nil
}

// removeJob deletes a job (with its sealed token) and its outbox_due entry.
// Its bytes stay in bbolt's free pages (PostgreSQL's dead tuples): once
// committed, the job no longer keeps its outbox key alive, and the key
// store's pass is asked to run.
func (v *Vault) removeJob(tx kv.Tx, id uint64, r *jobRecord) error {
	if err := tx.Bucket(bOutboxDue).Delete(dueIndexKey(r.Due, id)); err != nil {
		return err
	}
	if err := tx.Bucket(bOutbox).Delete(seqKey(id)); err != nil {
		return err
	}
	v.jobGone(tx, r.Epoch)
	return nil
}

// jobGone counts a committed job under outbox key epoch gone, once tx has
// committed, and asks the key store's pass to run.
func (v *Vault) jobGone(tx kv.Tx, epoch uint64) {
	if epoch == 0 {
		return
	}
	tx.OnCommit(func() {
		v.keys.removed(epoch)
		v.kickShred()
	})
}

// recordJobEvent appends an event for a job's recipient. raw, when not
// nil, is ev encoded for r's recipient already (outside the committer);
// known, when not nil, is what the vault knew of the job, whose letter
// spares reading and decoding its records while they are as it knew them.
func (v *Vault) recordJobEvent(tx kv.Tx, r *jobRecord, ev Event, raw []byte, known *jobKnown) error {
	ev.MessageID, ev.Recipient = r.MessageID, r.Recipient
	var letter eventLetter
	if l, err := v.letterIn(tx, known); err != nil {
		return err
	} else if l != nil {
		letter.letter = l
	} else {
		m, err := getMessage(tx, r.MessageID)
		if err != nil {
			return err
		}
		if r.Recipient < 0 || r.Recipient >= len(m.Recipients) {
			return fmt.Errorf("message %s has no recipient %d: %w", r.MessageID, r.Recipient, ErrNotFound)
		}
		letter.msg = m
	}
	if raw == nil {
		var err error
		if raw, err = json.Marshal(ev); err != nil {
			return err
		}
	}
	_, err := v.putEventKnown(tx, []byte(r.MessageID), raw, ev, &letter)
	return err
}

// Outcome is what an attempt at a job came to, in the notifier's words;
// CompleteJob records it and removes the job.
type Outcome struct {
	// Event is appended for the job's recipient: EventNotified (the
	// provider took it), EventFailed (given up), or "" for none (a receipt
	// mailed to its sender has no receipt). Only "notify" jobs take events.
	Event EventKind
	// Provider and ProviderID name who took a notification and its id
	// there: the notified event's Detail and ProviderID.
	Provider, ProviderID string
	// Reason is a failed event's Detail: no token, body or whole personal
	// number in it.
	Reason string
	// Job is the job as ClaimJobs or the handoff gave it, when the caller
	// has it: what the vault knew of it then spares the commit reading and
	// decoding again what has not changed since (jobknown.go). Optional;
	// one of another id or lease is ignored.
	Job *Job
}

// CompleteJob records the outcome of the claim of generation lease of job
// id, in one transaction: its event (see Outcome; the hooks see it, so the
// notifier's keeps the provider's id for delivery reports), and the job
// and its sealed token deleted.
// ErrNotFound when the job is no longer in the outbox, ErrLeaseLost when
// the claim no longer holds it. Receipts to the sender follow from a
// failed event.
func (v *Vault) CompleteJob(id, lease uint64, o Outcome) error {
	at := v.now().UTC()
	var ev Event
	switch o.Event {
	case "":
	case EventNotified:
		ev = Event{Kind: EventNotified, At: at, ProviderID: o.ProviderID, Detail: o.Provider}
	case EventFailed:
		ev = Event{Kind: EventFailed, At: at, Detail: o.Reason}
	default:
		return fmt.Errorf("vault: complete job %d: %q is not a job's outcome", id, o.Event)
	}
	// The event's encoding is the committer's time saved when the job is
	// as known: its message and recipient are the known ones then.
	known := o.knownFor(id, lease)
	var raw []byte
	if known != nil && ev.Kind != "" && known.r.Kind == JobNotify {
		e := ev
		e.MessageID, e.Recipient = known.r.MessageID, known.r.Recipient
		var err error
		if raw, err = json.Marshal(e); err != nil {
			return fmt.Errorf("vault: complete job %d: %w", id, err)
		}
	}
	return v.jobUpdate("complete job", id, lease, known, func(tx kv.Tx, r *jobRecord, asKnown bool) error {
		if ev.Kind == "" {
			return v.removeJob(tx, id, r)
		}
		if r.Kind != JobNotify {
			return fmt.Errorf("job %d of kind %q takes no %s event", id, r.Kind, ev.Kind)
		}
		k, evRaw := known, raw
		if !asKnown {
			k, evRaw = nil, nil
		}
		if err := v.recordJobEvent(tx, r, ev, evRaw, k); err != nil {
			return err
		}
		return v.removeJob(tx, id, r)
	})
}

// RetryJob ends the claim of generation lease of job id and makes the job
// due again at due, keeping reason (which must hold no token, body or
// whole personal number) as LastError. inDoubt marks an attempt whose
// outcome is unknown (the provider's answer was lost): the job is in doubt
// from the start of its claim. A job in doubt stays in doubt.
// ErrNotFound and ErrLeaseLost as for CompleteJob.
func (v *Vault) RetryJob(id, lease uint64, due time.Time, reason string, inDoubt bool) error {
	due = due.UTC()
	return v.jobUpdate("retry job", id, lease, nil, func(tx kv.Tx, r *jobRecord, _ bool) error {
		idx := tx.Bucket(bOutboxDue)
		if err := idx.Delete(dueIndexKey(r.Due, id)); err != nil {
			return err
		}
		if inDoubt {
			r.markInDoubt()
		}
		r.Due, r.Leased, r.LastError = due, false, reason
		if !due.After(v.now()) {
			tx.Notify(ChannelOutbox) // given back, due now: any node may take it
		}
		out, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bOutbox).Put(seqKey(id), out); err != nil {
			return err
		}
		return idx.Put(dueIndexKey(due, id), nil)
	})
}

// OutboxLen counts the jobs in the outbox (the notifier's queue depth).
func (v *Vault) OutboxLen() (int, error) {
	var n int
	err := v.view(func(tx kv.Tx) (err error) {
		n, err = tx.Bucket(bOutbox).Count()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("vault: outbox length: %w", err)
	}
	return n, nil
}
