package vault

// Notify jobs born leased: a notifier that opens a Handoff takes the jobs
// Accept writes from memory, without a claim of its own. Accept writes
// them as ClaimJobs would lease them — attempt counted, lease generation 1,
// this node (Options.NodeID), due at the end of the lease, claimed at the
// accept — in the accept's own transaction, and hands them over once that
// transaction has committed. The notifier thus spends no claim commit on
// them, and no other node is woken for them.
//
// Everything else is a claimed job's: the outcome carries the generation
// (fencing); if the notifier stops before it has one, the lease runs out
// and any node's ClaimJobs takes the job, in doubt; this node's restart
// (ReleaseClaims) releases it, as it names this node. A job is never born
// leased without a node: another node's restart would release it while
// this one sends it.
//
// Room: the notifier takes jobs only while it has room for them (Free,
// Take); Accept writes as many of a message's jobs leased as there is room
// at that moment, and the rest as before, due at once, for any claim.
// Born-leased jobs are entered in outbox_due by the next claim, like
// every job Accept writes, if they are not done by then; JobsDue finds
// those not yet entered once their lease has run out (notify.go).
//
// A job handed over carries what Accept knew of it (its record, its
// message's and recipient's records and its letter: jobknown.go), so that
// its outcome and the check for a withdrawal before its send read little
// and decode nothing while those records are unchanged.

import (
	"errors"
	"sync"
	"time"
)

// Handoff is a notifier's offer to take Accept's notify jobs in memory
// (see above). Open it with OpenHandoff, one per vault at a time.
type Handoff struct {
	v     *Vault
	lease time.Duration
	jobs  chan Job // never blocks: each job in it holds a slot of room

	mu       sync.Mutex
	room     int  // slots free: neither reserved by an accept nor taken for a claim nor holding a job
	closed   bool // no accept reserves any more
	inflight sync.WaitGroup
}

// OpenHandoff lets the notifier take up to room notify jobs at a time from
// Accept, each leased for lease (ClaimJobs' lease). Until Close, Accept
// writes a message's notify jobs leased by this node while there is room.
func (v *Vault) OpenHandoff(lease time.Duration, room int) (*Handoff, error) {
	if lease <= 0 || room <= 0 {
		return nil, errors.New("vault: open handoff: lease and room must be positive")
	}
	h := &Handoff{v: v, lease: lease, jobs: make(chan Job, room), room: room}
	if !v.handoff.CompareAndSwap(nil, h) {
		return nil, errors.New("vault: open handoff: another is open")
	}
	return h, nil
}

// Jobs delivers the jobs born leased, once their accept has committed.
// Each holds a slot of room until Free gives it back.
func (h *Handoff) Jobs() <-chan Job { return h.jobs }

// Take reserves up to max free slots for a claim of the notifier's own and
// returns how many; Free gives back those the claim did not fill.
func (h *Handoff) Take(max int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := min(max, h.room)
	h.room -= k
	return k
}

// Room is how many slots are free.
func (h *Handoff) Room() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.room
}

// Free gives n slots back: jobs finished, or slots Take reserved unfilled.
func (h *Handoff) Free(n int) {
	h.mu.Lock()
	h.room += n
	h.mu.Unlock()
}

// Close stops Accept from writing jobs leased for the notifier, waits for
// the accepts that already did to hand them over, and returns the jobs
// handed over but not taken from Jobs: their leases are the notifier's to
// end (RetryJob), or they run out.
func (h *Handoff) Close() []Job {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.inflight.Wait()
	h.v.handoff.CompareAndSwap(h, nil)
	var left []Job
	for {
		select {
		case j := <-h.jobs:
			left = append(left, j)
		default:
			return left
		}
	}
}

// reserveHandoff is Accept's: how many of a message's n notify jobs the
// open handoff takes (0 when none is open, or it has no room), and the
// handoff. A reservation ends with deliver (committed) or cancel.
func (v *Vault) reserveHandoff(n int) (*Handoff, int) {
	h := v.handoff.Load()
	if h == nil {
		return nil, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.room == 0 {
		return nil, 0
	}
	k := min(n, h.room)
	h.room -= k
	h.inflight.Add(1)
	return h, k
}

// leased makes r a job born leased by this node at now, as ClaimJobs'
// first claim of it would.
func (h *Handoff) leased(r *jobRecord, now time.Time) {
	r.Attempts, r.Lease, r.Leased = 1, 1, true
	r.Due, r.Claimed, r.Node = now.Add(h.lease), now, h.v.opt.NodeID
}

// deliver hands a committed accept's leased jobs over; the room reserved
// for them guarantees the channel has space.
func (h *Handoff) deliver(jobs []Job) {
	for _, j := range jobs {
		h.jobs <- j
	}
	h.inflight.Done()
}

// cancel ends a reservation of k slots whose accept did not commit.
func (h *Handoff) cancel(k int) {
	h.Free(k)
	h.inflight.Done()
}
