// Package walkv puts a write-ahead log in front of another kv engine (the
// vault's bbolt file). A write transaction commits by appending what it
// changed to the log and syncing that one file; a background applier then
// copies the logged changes into the engine underneath, many commits in one
// of its transactions. Until a change is applied, every transaction reads
// it from memory, layered over the engine's own snapshot, so what a commit
// wrote is visible the moment Commit returns, as with the engine alone.
//
// Why: a bbolt commit writes every page on the path to every key it
// changed, each with its own pwrite, and syncs twice (pages, then the meta
// page). A message touches a dozen trees, so a lone session's commit wrote
// about 24 pages for 3 KiB of records. Through the log, the acceptance
// waits for one append and one fdatasync into blocks already allocated,
// and the trees' pages are written once for a whole batch of commits.
//
// A commit that fails in its append or sync stops the engine's writes
// (the log cannot be trusted after that), and its outcome is unknown, as
// with any engine: its record may have reached the disk and is then
// applied at the next Open.
//
// What it keeps (package kv's contract): a commit is durable when Commit
// returns (the log is fdatasynced first); transactions are serializable
// (one writer at a time, as with bbolt, and a reader sees one snapshot:
// the engine's at Begin plus the commits not yet applied at Begin). After
// a crash, Open applies the log's commits the engine has not got, in
// order, each exactly once: the engine underneath records the last one it
// applied in the same transaction that applies it.
//
// The log is one file beside the store, grown in zero-filled steps so that
// an append's fdatasync writes data blocks only, and written from its start
// again once everything in it is applied. A record is its length, a CRC-32C
// and a sequence number, so a torn last record, or an older cycle's record
// behind the newest, ends the replay there.
package walkv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"sigill/vault/kv"
)

// LogSuffix is what the log's name adds to the store file's, by convention
// (Open takes any path): tools that copy a store find its log by it.
const LogSuffix = ".wal"

// appliedBucket holds, in the engine underneath, the sequence number of the
// last log record applied to it.
const appliedBucket = "walkv"

var (
	appliedKey = []byte("applied")
	idKey      = []byte("log-id") // binds the log's records to this store (see log.go)
)

// The applier lets commits gather for applyDelay after the first, or until
// applyEarly bytes are pending (or someone waits for it: Flush, Close, a
// writer held back): one transaction of the engine underneath for many
// commits writes each tree's pages, and syncs, once for all of them.
// Limits: the applier takes at most maxApplyBytes of changes in one of the
// engine's transactions; writers wait when more than maxPendingBytes are
// logged and not yet applied (memory is what holds them); the log starts
// again from its beginning once it has passed restartAt and everything in
// it is applied, and writers wait for that past mustRestartAt.
var (
	applyDelay      = 100 * time.Millisecond
	applyEarly      = 4 << 20
	maxApplyBytes   = 16 << 20
	maxPendingBytes = 64 << 20
	restartAt       = int64(32 << 20)
	mustRestartAt   = int64(64 << 20)
)

// Engine is kv.Engine with a write-ahead log in front of another engine.
type Engine struct {
	inner kv.Engine
	log   *logFile
	hub   kv.Hub

	writer sync.Mutex // held by the one write transaction

	mu           sync.Mutex
	changed      *sync.Cond // on mu: pending shrank, or an error or Close came
	pending      []*batch   // logged and not yet applied, oldest first
	pendingBytes int
	index        pendingIndex // pending, by bucket
	next         uint64       // the next record's sequence number
	applyErr     error        // the applier's failure: writes stop
	closed       bool
	paused       bool // tests: the applier waits

	kick        chan struct{}
	hurry       chan struct{} // apply now, without waiting for more
	applierDone chan struct{}
}

var (
	_ kv.Engine   = (*Engine)(nil)
	_ kv.Stater   = (*Engine)(nil)
	_ kv.Checker  = (*Engine)(nil)
	_ kv.Backuper = (*Engine)(nil)
)

// Open puts the log at logPath (created, mode 0600, when missing) in front
// of inner, first applying to inner whatever the log holds that inner has
// not got. Close closes inner too.
func Open(inner kv.Engine, logPath string) (*Engine, error) {
	ctx := context.Background()
	var (
		applied uint64
		id      []byte
	)
	err := kv.Update(ctx, inner, 1, func(tx kv.Tx) error {
		if err := tx.CreateBucket(appliedBucket); err != nil {
			return err
		}
		b := tx.Bucket(appliedBucket)
		v, err := b.Get(appliedKey)
		if err != nil {
			return err
		}
		if len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		if id, err = b.Get(idKey); err != nil || len(id) > 0 {
			id = bytes.Clone(id)
			return err
		}
		id = make([]byte, 16)
		rand.Read(id)
		return b.Put(idKey, id)
	})
	if err != nil {
		return nil, fmt.Errorf("walkv: open: %w", err)
	}
	log, records, err := openLog(logPath, applied, id)
	if err != nil {
		return nil, fmt.Errorf("walkv: open %s: %w", logPath, err)
	}
	e := &Engine{inner: inner, log: log, next: applied + 1, kick: make(chan struct{}, 1), hurry: make(chan struct{}, 1), applierDone: make(chan struct{})}
	e.changed = sync.NewCond(&e.mu)
	if len(records) > 0 {
		if err := e.apply(ctx, records); err != nil {
			log.close()
			return nil, fmt.Errorf("walkv: applying %s: %w", logPath, err)
		}
		e.next = records[len(records)-1].lsn + 1
		slog.Info("store: applied the commits its log held beyond the file", "commits", len(records), "log", logPath)
	}
	log.restart() // everything in it is applied
	go e.runApplier()
	return e, nil
}

// Inner is the engine underneath, for what only it has. Reading it
// directly misses the commits not yet applied: call Flush first.
func (e *Engine) Inner() kv.Engine { return e.inner }

func (e *Engine) Name() string { return e.inner.Name() }

func (e *Engine) Listen(ctx context.Context, channel string) <-chan struct{} {
	return e.hub.Listen(ctx, channel)
}

// Close waits for the write transaction in progress, applies everything
// logged, and closes the log and the engine underneath.
func (e *Engine) Close() error {
	e.writer.Lock()
	defer e.writer.Unlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.changed.Broadcast()
	e.mu.Unlock()
	e.kickApplier()
	e.hurryApplier()
	<-e.applierDone
	e.mu.Lock()
	err := e.applyErr
	if err == nil && len(e.pending) == 0 {
		e.log.restart()
	}
	e.mu.Unlock()
	return errors.Join(err, e.log.close(), e.inner.Close())
}

// Flush returns once every commit made before it is applied to the engine
// underneath (or the applier has failed: its error).
func (e *Engine) Flush() error {
	e.hurryApplier()
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.pending) > 0 && e.applyErr == nil && !e.closed {
		e.changed.Wait()
	}
	if e.closed && len(e.pending) > 0 {
		return kv.ErrClosed
	}
	return e.applyErr
}

// Stats is the engine underneath's, once everything logged is applied,
// with the log's size (log_bytes: the file, log_used: up to its last
// record).
func (e *Engine) Stats(ctx context.Context) (map[string]int64, error) {
	if err := e.Flush(); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	if st, ok := e.inner.(kv.Stater); ok {
		s, err := st.Stats(ctx)
		if err != nil {
			return nil, err
		}
		for k, v := range s {
			out[k] = v
		}
	}
	size, used := e.log.figures()
	out["log_bytes"], out["log_used"] = size, used
	return out, nil
}

// Check is the engine underneath's check, once everything logged is
// applied.
func (e *Engine) Check(ctx context.Context) []error {
	if err := e.Flush(); err != nil {
		return []error{err}
	}
	if c, ok := e.inner.(kv.Checker); ok {
		return c.Check(ctx)
	}
	return nil
}

// Backup is the engine underneath's copy, taken once every commit before
// it is applied: the copy needs no log.
func (e *Engine) Backup(ctx context.Context, w io.Writer) (int64, error) {
	b, ok := e.inner.(kv.Backuper)
	if !ok {
		return 0, fmt.Errorf("walkv: %s keeps no copy of its own", e.inner.Name())
	}
	if err := e.Flush(); err != nil {
		return 0, err
	}
	return b.Backup(ctx, w)
}

func (e *Engine) Begin(ctx context.Context, writable bool) (kv.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if writable {
		e.writer.Lock()
	}
	t, err := e.begin(ctx, writable)
	if err != nil && writable {
		e.writer.Unlock()
	}
	return t, err
}

func (e *Engine) begin(ctx context.Context, writable bool) (*tx, error) {
	e.mu.Lock()
	if writable {
		// Wait while the applier is far behind, and for it to catch up
		// when the log must start again from its beginning.
		for !e.closed && e.applyErr == nil &&
			(e.pendingBytes > maxPendingBytes || (e.log.used() > mustRestartAt && len(e.pending) > 0)) {
			e.hurryApplier()
			e.changed.Wait()
		}
		if e.applyErr != nil {
			err := e.applyErr
			e.mu.Unlock()
			return nil, fmt.Errorf("walkv: the store stopped taking writes: %w", err)
		}
		if len(e.pending) == 0 && e.log.used() > restartAt {
			e.log.restart()
		}
	}
	if e.closed {
		e.mu.Unlock()
		return nil, kv.ErrClosed
	}
	// The snapshot underneath and the list of what is not applied yet are
	// taken together: the applier drops a batch from the list only after
	// its transaction committed, so a batch is in one or the other, or (for
	// a moment) in both, with the same values.
	inner, err := e.inner.Begin(ctx, false)
	if err != nil {
		e.mu.Unlock()
		return nil, err
	}
	t := &tx{e: e, inner: inner, pending: e.index}
	e.mu.Unlock()
	if writable {
		t.own = &batch{buckets: map[string]*changes{}}
	}
	return t, nil
}

// commit logs t's changes and makes them visible; the writer lock is held.
func (e *Engine) commit(t *tx) error {
	b := t.own
	if len(b.buckets) == 0 {
		return nil
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return kv.ErrClosed
	}
	b.lsn = e.next
	e.mu.Unlock()
	for _, c := range b.buckets {
		c.lsn = b.lsn
	}
	size, err := e.log.append(b.lsn, b)
	if err != nil {
		// The log cannot be trusted after a failed write or sync (the
		// kernel may have dropped the dirty pages): no more writes.
		err = fmt.Errorf("walkv: log: %w", err)
		e.mu.Lock()
		e.applyErr = err
		e.changed.Broadcast()
		e.mu.Unlock()
		return err
	}
	b.bytes = size
	e.mu.Lock()
	e.next++
	e.pending = append(e.pending, b)
	e.pendingBytes += b.bytes
	e.index = e.index.with(b)
	early := e.pendingBytes >= applyEarly
	e.mu.Unlock()
	e.kickApplier()
	if early {
		e.hurryApplier()
	}
	return nil
}

// kickApplier wakes the applier; a wake-up already waiting is enough.
func (e *Engine) kickApplier() { signal(e.kick) }

// hurryApplier ends the applier's wait for more commits.
func (e *Engine) hurryApplier() { signal(e.hurry) }

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// runApplier applies what is logged, as much as there is at a time, until
// Close; then what is left. (Close holds the writer lock, so nothing is
// logged after it: once closed and drained, the applier is done.)
func (e *Engine) runApplier() {
	defer close(e.applierDone)
	ctx := context.Background()
	wait := time.NewTimer(applyDelay)
	wait.Stop()
	for {
		<-e.kick
		wait.Reset(applyDelay)
		select {
		case <-wait.C:
		case <-e.hurry:
			wait.Stop()
		}
		for {
			e.mu.Lock()
			for e.paused && !e.closed {
				e.changed.Wait()
			}
			var take []*batch
			n := 0
			for _, b := range e.pending {
				if len(take) > 0 && n+b.bytes > maxApplyBytes {
					break
				}
				take = append(take, b)
				n += b.bytes
			}
			e.mu.Unlock()
			if len(take) == 0 {
				break
			}
			err := e.apply(ctx, take)
			e.mu.Lock()
			if err != nil {
				e.applyErr = fmt.Errorf("walkv: applying the log to %s: %w", e.inner.Name(), err)
				slog.Error("store: the log's commits could not be applied; writes stop", "err", err)
			} else {
				e.pending = e.pending[len(take):]
				e.pendingBytes -= n
				e.index = e.index.without(take[len(take)-1].lsn)
			}
			e.changed.Broadcast()
			e.mu.Unlock()
			if err != nil {
				return
			}
		}
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			return
		}
	}
}

// apply writes batches, in order, into one transaction of the engine
// underneath, with the last one's sequence number.
func (e *Engine) apply(ctx context.Context, batches []*batch) error {
	return kv.Update(ctx, e.inner, 1, func(tx kv.Tx) error {
		for _, b := range batches {
			if err := b.applyTo(tx); err != nil {
				return fmt.Errorf("record %d: %w", b.lsn, err)
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], batches[len(batches)-1].lsn)
		return tx.Bucket(appliedBucket).Put(appliedKey, v[:])
	})
}

// batch is one commit's changes, by bucket.
type batch struct {
	lsn     uint64
	bytes   int
	buckets map[string]*changes
}

// changes is what one commit did to one bucket.
type changes struct {
	lsn     uint64 // its batch's
	created bool
	seq     uint64 // the sequence after the commit, when seqSet
	seqSet  bool
	ops     []op // sorted by key, one per key
}

type op struct {
	key, value []byte
	del        bool
}

// find is the index of key in c.ops, or where it would go.
func (c *changes) find(key []byte) (int, bool) {
	return slices.BinarySearchFunc(c.ops, key, func(o op, k []byte) int { return compare(o.key, k) })
}

func (c *changes) set(o op) {
	i, found := c.find(o.key)
	if found {
		c.ops[i] = o
		return
	}
	c.ops = slices.Insert(c.ops, i, o)
}

func (b *batch) applyTo(tx kv.Tx) error {
	names := make([]string, 0, len(b.buckets))
	for name := range b.buckets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := b.buckets[name]
		if c.created {
			if err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		bk := tx.Bucket(name)
		if c.seqSet {
			// kv has no SetSequence; a commit's NextSequence calls are what
			// moved it, so the same number of calls moves it here.
			cur, err := bk.Sequence()
			if err != nil {
				return err
			}
			for ; cur < c.seq; cur++ {
				if _, err := bk.NextSequence(); err != nil {
					return err
				}
			}
		}
		for _, o := range c.ops {
			var err error
			if o.del {
				err = bk.Delete(o.key)
			} else {
				err = bk.Put(o.key, o.value)
			}
			if err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
	}
	return nil
}

// pendingIndex is, for each bucket, what the batches logged and not yet
// applied did to it, oldest first. A transaction reads a bucket through
// it in one map lookup, where a busy store has a hundred batches pending
// and most touch only a few of its buckets. It is never changed once made
// (with and without make another, under Engine.mu), so a transaction keeps
// the one it began with; with appends behind a list's end, which no older
// index reads.
type pendingIndex map[string][]*changes

// with is ix and batch b, the newest.
func (ix pendingIndex) with(b *batch) pendingIndex {
	out := make(pendingIndex, len(ix)+len(b.buckets))
	maps.Copy(out, ix)
	for name, c := range b.buckets {
		out[name] = append(ix[name], c)
	}
	return out
}

// without is ix less the batches up to lsn, which the engine underneath
// now has. What is left is copied: the lists' old arrays, and the
// applied changes they hold, go when the last transaction reading them
// ends.
func (ix pendingIndex) without(lsn uint64) pendingIndex {
	out := make(pendingIndex, len(ix))
	for name, list := range ix {
		i := 0
		for i < len(list) && list[i].lsn <= lsn {
			i++
		}
		if i < len(list) {
			out[name] = slices.Clone(list[i:])
		}
	}
	return out
}
