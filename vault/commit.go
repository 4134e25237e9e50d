package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"sigill/vault/kv"
)

// A request is one caller's share of a group commit: fn applies its writes.
// fn may be run more than once (when another request's fn fails the group's
// transaction is rolled back and the rest run again, and when the engine
// reports a conflict with another node's transaction), so it must compute
// everything from the transaction and its own prepared data.
type request struct {
	fn   func(kv.Tx) error
	err  error
	done chan struct{}
	// rideAlong requests (the notifier's bookkeeping) start no commit of
	// their own while other writers are active: they join the next commit
	// another writer starts, or commit after defaultRideAlongWait at the
	// latest. When no other writer has committed for that long, they commit
	// at once.
	rideAlong bool
	queued    time.Time
}

// defaultRideAlongWait bounds how long a ride-along request waits for a
// commit to join. Under load one comes within a millisecond or two; with a
// single sender the next message's accept comes within a few. Without the
// wait a lone session paid three commits per message (its accept, the
// notifier's claim, the notifier's outcome), each two fdatasyncs, and its
// next accept queued behind the notifier's. The cost is that a notification
// starts, or its outcome is on disk, up to this much later. Only while other
// writers are active, though: the notifier draining a backlog with no mail
// coming in (after a provider's outage) would otherwise wait this long for
// every claim and every outcome.
const defaultRideAlongWait = 10 * time.Millisecond

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// committer is the vault's group commit. Writers enqueue requests; one
// goroutine takes everything queued the moment the previous commit has ended
// (no fixed delay: a lone writer commits at once, and under load the group
// grows by itself while the disk syncs), applies it in one write transaction,
// commits (the engine makes it durable: bbolt fsyncs, PostgreSQL flushes its
// WAL), and only then wakes every waiter with its result.
// The exception is the notifier's bookkeeping (claims and job outcomes):
// while other writers are active those ride along, waiting up to
// defaultRideAlongWait for another writer's commit instead of starting their
// own.
//
// Failures are isolated per request:
//   - a request whose fn returns an error fails with it; since the engines
//     have no savepoints the transaction is rolled back and the others run
//     again without it;
//   - when the engine reports a conflict (kv.ErrConflict: another node's
//     transaction changed what this one read), from any call or from
//     Commit, the whole group runs again in a new transaction, up to
//     conflictAttempts times;
//   - when Commit itself fails (an I/O error, a full disk) the whole group's
//     transaction is lost: each request is then retried alone, so a bad one
//     does not fail good ones, and each gets its own commit's result. A
//     commit that fails for want of space (ENOSPC) fails with ErrFull.
type committer struct {
	eng        kv.Engine
	failCommit func(n int) error
	onBatch    func(n int)
	rideWait   time.Duration // defaultRideAlongWait, or a test's
	lastOther  time.Time     // when a request that is not ride-along was last taken into a commit

	mu     sync.Mutex
	queue  []*request
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

func newCommitter(eng kv.Engine, o Options) *committer {
	c := &committer{
		eng:        eng,
		failCommit: o.FailCommit,
		onBatch:    o.onBatch,
		rideWait:   cmp.Or(o.rideAlongWait, defaultRideAlongWait),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
	}
	go c.run()
	return c
}

// update applies fn in a durable write transaction shared with whatever else
// is queued, and returns once that transaction is on disk (or has failed).
// A cancelled ctx gives up only while the request still waits in the queue;
// once taken, the request's outcome is always waited for, so a caller never
// reports failure for a write that then commits.
func (c *committer) update(ctx context.Context, fn func(kv.Tx) error) error {
	return c.enqueue(ctx, &request{fn: fn, done: make(chan struct{})})
}

// rideAlong is update for writes that need not be on disk at once (see
// request.rideAlong): it returns once fn's transaction is on disk, at most
// defaultRideAlongWait plus one commit after the call when nothing else is
// written.
func (c *committer) rideAlong(fn func(kv.Tx) error) error {
	return c.enqueue(context.Background(), &request{fn: fn, done: make(chan struct{}), rideAlong: true, queued: time.Now()})
}

func (c *committer) enqueue(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		c.mu.Lock()
		if i := slices.Index(c.queue, r); i >= 0 {
			c.queue = slices.Delete(c.queue, i, i+1)
			c.mu.Unlock()
			return ctx.Err()
		}
		c.mu.Unlock()
		<-r.done
		return r.err
	}
}

func (c *committer) run() {
	defer close(c.done)
	for {
		c.mu.Lock()
		for len(c.queue) == 0 {
			if c.closed {
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
		}
		if wait := c.rideAlongOnly(); wait > 0 {
			c.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-c.wake:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		group := c.queue
		c.queue = nil
		if slices.ContainsFunc(group, func(r *request) bool { return !r.rideAlong }) {
			c.lastOther = time.Now()
		}
		c.mu.Unlock()
		start := time.Now()
		c.commitGroup(group)
		committerBusy.Add(time.Since(start).Seconds())
	}
}

// rideAlongOnly tells, with c.mu held, how much longer the queue may wait for
// a writer that starts a commit: 0 when some request starts one, when the
// oldest ride-along request has waited c.rideWait, when no other writer has
// committed within c.rideWait (none is likely to come soon), or when closing.
func (c *committer) rideAlongOnly() time.Duration {
	if c.closed || time.Since(c.lastOther) > c.rideWait {
		return 0
	}
	oldest := time.Time{}
	for _, r := range c.queue {
		if !r.rideAlong {
			return 0
		}
		if oldest.IsZero() || r.queued.Before(oldest) {
			oldest = r.queued
		}
	}
	return max(time.Until(oldest.Add(c.rideWait)), 0)
}

// close refuses new requests, lets the committer finish what is queued, and
// waits for it to stop.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.done
}

// conflictAttempts bounds how often a group (or a request retried alone)
// runs again after kv.ErrConflict before its requests fail with it. Each
// conflict means another transaction committed, so the store moves on; a
// group that loses this often is starved, and its callers are told.
const conflictAttempts = 50

func (c *committer) commitGroup(group []*request) {
	for len(group) > 0 {
		group = c.attempt(group, true)
	}
}

// attempt applies reqs in one transaction and commits it, running them all
// again on a conflict. It returns the requests to run again when one
// request's fn failed and forced a rollback; every other request has been
// finished.
func (c *committer) attempt(reqs []*request, retrySolo bool) []*request {
	for i := 1; ; i++ {
		rest, err := c.try(reqs, retrySolo)
		if !errors.Is(err, kv.ErrConflict) || i == conflictAttempts {
			if err != nil {
				for _, r := range reqs {
					r.finish(fmt.Errorf("commit: %w", err))
				}
			}
			return rest
		}
		commitConflicts.Inc()
	}
}

// try is one attempt: it returns a conflict (kv.ErrConflict, no request
// finished) or an error that keeps the engine from starting a transaction
// (no request finished either); else what attempt returns.
func (c *committer) try(reqs []*request, retrySolo bool) ([]*request, error) {
	tx, err := c.eng.Begin(context.Background(), true)
	if err != nil {
		if errors.Is(err, kv.ErrClosed) {
			err = ErrClosed
		}
		return nil, err
	}
	var included []*request
	for i, r := range reqs {
		if err := r.fn(tx); err != nil {
			_ = tx.Rollback()
			if errors.Is(err, kv.ErrConflict) {
				return nil, err
			}
			r.finish(err)
			return append(included, reqs[i+1:]...), nil
		}
		included = append(included, r)
	}
	if len(included) == 0 {
		_ = tx.Rollback()
		return nil, nil
	}
	if c.failCommit != nil {
		if err = c.failCommit(len(included)); err != nil {
			_ = tx.Rollback()
		}
	}
	if err == nil {
		start := time.Now()
		err = tx.Commit()
		commitSeconds.Observe(time.Since(start).Seconds())
	}
	if errors.Is(err, kv.ErrConflict) {
		return nil, err
	}
	if err != nil && retrySolo && len(included) > 1 {
		for _, r := range included {
			for rest := []*request{r}; len(rest) > 0; {
				rest = c.attempt(rest, false)
			}
		}
		return nil, nil
	}
	if errors.Is(err, kv.ErrClosed) {
		err = fmt.Errorf("commit: %w", ErrClosed)
	} else if errors.Is(err, syscall.ENOSPC) {
		err = fmt.Errorf("commit: %w: %w", ErrFull, err)
	} else if err != nil {
		err = fmt.Errorf("commit: %w", err)
	} else {
		commitRequests.Observe(float64(len(included)))
		if c.onBatch != nil {
			c.onBatch(len(included))
		}
	}
	for _, r := range included {
		r.finish(err)
	}
	return nil, nil
}
