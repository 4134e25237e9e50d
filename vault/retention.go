package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"sigill/vault/kv"
)

// SweepResult counts what one Sweep deleted.
type SweepResult struct {
	Expired int // messages whose ciphertext and wrapped keys were deleted ("expired" recorded per recipient)
	Keys    int // expiry keys destroyed (their periods ended, or replaced once messages under them expired): what makes the expiry final
	Jobs    int // outbox jobs of expired messages dropped (with their sealed tokens)
	Purged  int // messages whose metadata, recipients and events were deleted
	Events  int // events deleted with them
}

// sweepChunk bounds how many messages one write transaction of Sweep
// handles, so a sweep never holds the writer (and Accept) for long.
const sweepChunk = 256

// Sweep applies retention, as of now:
//   - a message past its expiry (Retention after it was accepted, or its
//     own lifetime: expiry.go) loses its
//     ciphertext, its escrow packet and every recipient's wrapped session
//     key; an "expired" event is recorded per recipient, and its outbox jobs
//     are dropped. Lookup answers LinkExpired; Decrypt fails with
//     ErrExpired.
//   - the expiry key of every period that has ended is destroyed (the key
//     store is written without it): the deleted records stay in bbolt's free
//     pages and in backups, and this is what makes them unreadable with any
//     token.
//   - a message older than AuditRetention loses everything else: metadata,
//     recipients and its events. Events go with their message, so a
//     message's audit trail is kept whole or not at all.
//
// Messages are found through two time-ordered index buckets, so a sweep
// reads only what is due.
func (v *Vault) Sweep() (SweepResult, error) {
	var total SweepResult
	now := v.now().UTC()
	for _, step := range []func(kv.Tx, time.Time, *SweepResult) (int, error){v.expireStep, v.purgeStep} {
		for {
			var (
				res SweepResult
				n   int
			)
			err := v.commit.update(context.Background(), func(tx kv.Tx) error {
				res = SweepResult{} // the function may run again after a rollback
				var err error
				n, err = step(tx, now, &res)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("vault: sweep: %w", err)
			}
			total.Expired += res.Expired
			total.Jobs += res.Jobs
			total.Purged += res.Purged
			total.Events += res.Events
			if n < sweepChunk {
				break
			}
		}
	}
	replaced, err := v.replaceOwedKeys(now)
	total.Keys += replaced
	if err != nil {
		return total, fmt.Errorf("vault: sweep: %w", err)
	}
	n, err := v.keys.dropExpired(now)
	total.Keys += n
	if err != nil {
		return total, fmt.Errorf("vault: sweep: %w", err)
	}
	return total, nil
}

// due returns up to sweepChunk keys of an index bucket whose time is at or
// before cutoff.
func due(b kv.Bucket, cutoff time.Time) ([][]byte, error) {
	var keys [][]byte
	err := b.Range(kv.Range{Limit: sweepChunk}, func(k, _ []byte) error {
		if len(k) <= 8 {
			return fmt.Errorf("bad key %x in %s", k, "index")
		}
		if int64(binary.BigEndian.Uint64(k[:8])) > cutoff.UnixNano() {
			return kv.Stop
		}
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	return keys, err
}

func (v *Vault) expireStep(tx kv.Tx, now time.Time, res *SweepResult) (int, error) {
	expireDue, purgeDue := tx.Bucket(bExpireDue), tx.Bucket(bPurgeDue)
	keys, err := due(expireDue, now)
	if err != nil {
		return 0, err
	}
	ids := make(map[string]bool)
	parts, recips := tx.Bucket(bParts), tx.Bucket(bRecipients)
	for _, k := range keys {
		id := string(k[8:])
		if err := expireDue.Delete(k); err != nil {
			return 0, err
		}
		if err := parts.Delete(contentKey(id)); err != nil {
			return 0, err
		}
		m, err := getMessage(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if err := purgeDue.Put(dueKey(m.Received, id), nil); err != nil {
			return 0, err
		}
		for i, h := range m.Recipients {
			b, err := recips.Get(h)
			if err != nil {
				return 0, err
			}
			if b != nil {
				var rr recipientRecord
				if err := json.Unmarshal(b, &rr); err != nil {
					return 0, fmt.Errorf("message %s recipient %d: %w", id, i, err)
				}
				rr.Wrapped, rr.Expired = nil, true
				out, err := json.Marshal(rr)
				if err != nil {
					return 0, err
				}
				if err := recips.Put(h, out); err != nil {
					return 0, err
				}
			}
			ev := Event{MessageID: id, Recipient: i, Kind: EventExpired, At: now}
			raw, err := json.Marshal(ev)
			if err != nil {
				return 0, err
			}
			if err := v.putEvent(tx, []byte(id), raw, ev); err != nil {
				return 0, err
			}
		}
		m.Escrow, m.Expired = nil, true
		if m.ExpirySecret != nil {
			// Owed even if this transaction is run again or rolled back:
			// a replacement no expiry needed costs a reseal, nothing more.
			v.shred.owe([]int64{m.ExpiryKey})
		}
		out, err := json.Marshal(m)
		if err != nil {
			return 0, err
		}
		if err := parts.Put(metaKey(id), out); err != nil {
			return 0, err
		}
		ids[id] = true
		res.Expired++
	}
	if len(ids) > 0 {
		// The outbox holds only unfinished jobs, so one scan per chunk is cheap.
		var (
			drop   [][]byte
			epochs []uint64
		)
		err := tx.Bucket(bOutbox).Range(kv.Range{}, func(k, b []byte) error {
			var j struct {
				MessageID string `json:"message"`
				Kind      string `json:"kind"`
				Epoch     uint64 `json:"epoch"`
			}
			if err := json.Unmarshal(b, &j); err != nil {
				return fmt.Errorf("job %x: %w", k, err)
			}
			if ids[j.MessageID] && j.Kind == JobNotify { // other jobs (a hook's) hold no token, and may be about the expiry itself
				drop = append(drop, bytes.Clone(k))
				epochs = append(epochs, j.Epoch)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		for i, k := range drop {
			if err := tx.Bucket(bOutbox).Delete(k); err != nil {
				return 0, err
			}
			v.jobGone(tx, epochs[i])
		}
		res.Jobs += len(drop)
	}
	return len(keys), nil
}

func (v *Vault) purgeStep(tx kv.Tx, now time.Time, res *SweepResult) (int, error) {
	purgeDue := tx.Bucket(bPurgeDue)
	keys, err := due(purgeDue, now.Add(-v.opt.AuditRetention))
	if err != nil {
		return 0, err
	}
	parts, recips := tx.Bucket(bParts), tx.Bucket(bRecipients)
	for _, k := range keys {
		id := string(k[8:])
		if err := purgeDue.Delete(k); err != nil {
			return 0, err
		}
		n, err := v.deleteEvents(tx, id)
		if err != nil {
			return 0, err
		}
		res.Events += n
		m, err := getMessage(tx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		for _, h := range m.Recipients {
			if err := recips.Delete(h); err != nil {
				return 0, err
			}
		}
		if err := parts.Delete(contentKey(id)); err != nil {
			return 0, err
		}
		if err := parts.Delete(metaKey(id)); err != nil {
			return 0, err
		}
		res.Purged++
	}
	return len(keys), nil
}

// RunSweeper sweeps at once and then every interval (default an hour), and
// also just after each expiry period ends (on the hour), so that an expiry
// key is destroyed as its period ends, and when the next message is due to
// expire (a message's own lifetime may be minutes; Accept and SetExpiry wake
// it), until ctx ends or the vault closes. A failed sweep is tried again at
// the next tick; a caller that wants to log failures calls Sweep on its own
// schedule.
func (v *Vault) RunSweeper(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Hour
	}
	for {
		_, _ = v.Sweep()
		for {
			now := v.now()
			wait := min(every, periodStart(now).Add(expiryPeriod).Sub(now)+time.Second)
			if next, ok := v.nextExpiry(); ok {
				wait = max(min(wait, next.Sub(now)), time.Second) // not a busy loop should a sweep fail
			}
			if next, ok := v.shred.next(); ok {
				wait = max(min(wait, next.Sub(now)), time.Second)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-v.closing:
				t.Stop()
				return
			case <-v.sweepKick:
				t.Stop()
				continue // the next expiry may be sooner: wait again
			case <-t.C:
			}
			break
		}
	}
}

// nextExpiry is the expiry of the message Sweep will expire next.
func (v *Vault) nextExpiry() (time.Time, bool) {
	var (
		next time.Time
		ok   bool
	)
	_ = v.view(func(tx kv.Tx) error {
		k, _, err := kv.First(tx.Bucket(bExpireDue), kv.Range{})
		if len(k) > 8 {
			next, ok = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))), true
		}
		return err
	})
	return next, ok
}

// An hour's expiry key is destroyed when its hour ends, and until then a
// copy of the files opens, with its link, a message that expired earlier in
// that hour: its expiry secret, sealed under the key, is still in bbolt's
// free pages. So once messages under a key have expired, Sweep replaces the
// key as SetExpiry does when it shortens one (replaceExpiryKey): a fresh key
// takes the period, the messages of the hour not yet expired are sealed
// again under it, and the old key is destroyed. Each replacement reseals the
// rest of the hour, so a key is replaced at most once per
// expiryReplaceEvery: a copy made that long after an expiry opens nothing of
// the expired message. At steady state an hour's messages expire spread
// over it, so this costs some 30 reseals per message over its hour (small
// record rewrites, 256 to a commit). The debt is kept in memory: after a
// restart an owed replacement waits for the hour's end, as before.
const expiryReplaceEvery = time.Minute

// shredDebt is the set of expiry key periods owed a replacement.
type shredDebt struct {
	mu       sync.Mutex
	owed     map[int64]bool      // period start (Unix s) → owed
	replaced map[int64]time.Time // period start → when last replaced
}

func (d *shredDebt) owe(periods []int64) {
	if len(periods) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owed == nil {
		d.owed, d.replaced = map[int64]bool{}, map[int64]time.Time{}
	}
	for _, p := range periods {
		d.owed[p] = true
	}
}

// due takes the periods whose replacement may run now.
func (d *shredDebt) due(now time.Time) []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []int64
	for p := range d.owed {
		if last, ok := d.replaced[p]; ok && now.Sub(last) < expiryReplaceEvery {
			continue
		}
		delete(d.owed, p)
		d.replaced[p] = now
		out = append(out, p)
	}
	for p, last := range d.replaced {
		if now.Sub(last) >= expiryReplaceEvery && !d.owed[p] {
			delete(d.replaced, p)
		}
	}
	return out
}

// next is when the first owed replacement may run.
func (d *shredDebt) next() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var (
		first time.Time
		ok    bool
	)
	for p := range d.owed {
		at := d.replaced[p].Add(expiryReplaceEvery)
		if !ok || at.Before(first) {
			first, ok = at, true
		}
	}
	return first, ok
}

// replaceOwedKeys replaces the expiry keys owed a replacement, except those
// whose hour has ended (dropExpired destroys them whole), and returns how
// many it replaced.
func (v *Vault) replaceOwedKeys(now time.Time) (int, error) {
	n := 0
	for _, p := range v.shred.due(now) {
		k := v.keys.currentExpiry(p)
		if k == nil || !now.Before(k.end) {
			continue
		}
		if err := v.replaceExpiryKey(k); err != nil {
			v.shred.owe([]int64{p})
			return n, err
		}
		n++
	}
	return n, nil
}
