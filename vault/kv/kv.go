// Package kv is the interface between the vault's core and the engine that
// keeps its records: ordered key-value buckets in transactions. The vault
// writes every record once, against this interface, and runs on whichever
// engine is plugged in: boltkv (one bbolt file, the embedded default) or
// pgkv (PostgreSQL, shared by several nodes).
//
// What an engine must give:
//   - a write transaction is atomic and, once Commit returns nil, durable;
//   - transactions are serializable: a write transaction that ran against
//     data another committed transaction changed fails with ErrConflict
//     (at any call or at Commit), and the caller runs it again from the
//     start — so code inside a transaction computes everything from it;
//   - keys in a bucket are ordered by bytes.Compare;
//   - a bucket's sequence (NextSequence) is strictly increasing in commit
//     order, across every node that shares the store.
//
// What differs, and the vault's doc says what each promises: bbolt has one
// writer at a time and nothing to lock; PostgreSQL has many, so Range's
// SkipLocked lets nodes take different outbox jobs without waiting on each
// other, and Notify/Listen carry wake-ups between nodes.
package kv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// ErrConflict is what a write transaction fails with when another one
// changed what it read: run it again.
var ErrConflict = errors.New("kv: transaction conflicts with another, run it again")

// ErrClosed is what calls on a closed engine fail with.
var ErrClosed = errors.New("kv: engine closed")

// ErrNoBucket is what a call on a bucket that does not exist fails with.
var ErrNoBucket = errors.New("kv: no such bucket")

// Engine is one store.
type Engine interface {
	// Name is "bbolt" or "postgres", for logs and stats.
	Name() string
	// Begin starts a transaction: a read-only one sees one snapshot and
	// refuses writes. Every transaction must end with Commit or Rollback.
	Begin(ctx context.Context, writable bool) (Tx, error)
	// Listen returns a channel that receives (without blocking the sender;
	// several wake-ups may merge into one) after a transaction that called
	// Notify(channel) has committed, on this node or another sharing the
	// store. The channel stays open until ctx ends, and is closed then (a
	// subscriber may range over it). On this node the wake-up is sent
	// before Commit returns, where the engine can (boltkv does).
	Listen(ctx context.Context, channel string) <-chan struct{}
	Close() error
}

// Tx is one transaction.
type Tx interface {
	// Bucket is the named bucket; its methods fail with ErrNoBucket when it
	// was never created.
	Bucket(name string) Bucket
	// CreateBucket creates a bucket when missing (write transactions only).
	CreateBucket(name string) error
	// Notify wakes Listen(channel) everywhere once this transaction commits.
	Notify(channel string)
	// OnCommit runs fn after a successful Commit, outside the transaction.
	OnCommit(fn func())
	Commit() error
	Rollback() error
	Writable() bool
}

// Bucket is an ordered map of keys to values inside a transaction. Bytes
// returned are valid only until the transaction ends and must not be
// changed.
type Bucket interface {
	// Get returns the value, or nil when the key is missing.
	Get(key []byte) ([]byte, error)
	Put(key, value []byte) error
	Delete(key []byte) error
	// NextSequence returns the bucket's next number, starting at 1; it is
	// rolled back with the transaction.
	NextSequence() (uint64, error)
	// Sequence returns the bucket's last number handed out.
	Sequence() (uint64, error)
	// Range calls fn with every key in r, in r's order, until fn returns an
	// error: Range returns it, except Stop, which ends the range quietly.
	// fn must not use the transaction (a server engine streams the rows
	// over the transaction's one connection).
	Range(r Range, fn func(key, value []byte) error) error
	// Count is the number of keys.
	Count() (int, error)
}

// Stop, returned by Range's fn, ends the range without an error.
var Stop = errors.New("kv: stop")

// Range selects keys: Start <= key < End (nil Start: from the first; nil
// End: to the last), ascending unless Reverse, at most Limit (0: all).
type Range struct {
	Start, End []byte
	Limit      int
	Reverse    bool
	// SkipLocked: on an engine with concurrent writers, skip rows another
	// transaction has locked and lock the rows returned until this one
	// ends (PostgreSQL's FOR UPDATE SKIP LOCKED). Write transactions only;
	// with a single writer (bbolt) it changes nothing.
	SkipLocked bool
}

// Prefix is the Range of every key that starts with p.
func Prefix(p []byte) Range {
	return Range{Start: p, End: PrefixEnd(p)}
}

// PrefixEnd is the first key after every key that starts with p, or nil
// when there is none (p is empty or all 0xff).
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// First returns the first key and value of r, or nil when r is empty.
func First(b Bucket, r Range) (key, value []byte, err error) {
	r.Limit = 1
	err = b.Range(r, func(k, v []byte) error {
		key, value = k, v
		return Stop
	})
	return key, value, err
}

// Update runs fn in a write transaction of e and commits it, running it
// again when it conflicts with another transaction (at most attempts times).
// Before each new attempt it waits a random while, up to a millisecond
// after the first conflict and doubling to 32: writers that met on the
// same rows then come back apart, where at once they would meet again (and
// under load one of them could lose every attempt).
func Update(ctx context.Context, e Engine, attempts int, fn func(Tx) error) error {
	for i := 0; ; i++ {
		err := once(ctx, e, true, fn)
		if !errors.Is(err, ErrConflict) || i+1 >= attempts {
			return err
		}
		t := time.NewTimer(rand.N(time.Millisecond << min(i, 5)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
	}
}

// View runs fn in a read transaction of e.
func View(ctx context.Context, e Engine, fn func(Tx) error) error {
	return once(ctx, e, false, fn)
}

func once(ctx context.Context, e Engine, writable bool, fn func(Tx) error) error {
	tx, err := e.Begin(ctx, writable)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if !writable {
		return tx.Rollback()
	}
	return tx.Commit()
}

// Optional abilities an engine may have; the vault's admin commands ask
// for them with a type assertion and say when the engine lacks one.

// Stater reports engine-level figures (file size, pages, connections).
// "file_bytes", when given, is the size of the store on disk: the vault's
// Stats.FileBytes.
type Stater interface {
	Stats(ctx context.Context) (map[string]int64, error)
}

// Checker verifies the engine's own structures (bbolt's page check).
type Checker interface {
	Check(ctx context.Context) []error
}

// Backuper writes a consistent copy of the whole store to w while writers
// go on (bbolt: the file, page for page), one that the engine opens as it
// is. An engine whose copies are taken with its own tools (PostgreSQL:
// pg_dump) has none.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (int64, error)
}
