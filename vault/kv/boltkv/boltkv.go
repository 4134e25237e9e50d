// Package boltkv is the kv engine on one bbolt file: the vault's embedded
// default. One writer at a time (bbolt's own lock), so transactions never
// conflict and SkipLocked changes nothing; Listen is served in the process,
// since no other process may open the file.
package boltkv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"sigill/vault/kv"
)

// Engine is kv.Engine on an open bbolt database.
type Engine struct {
	db  *bolt.DB
	hub kv.Hub
}

var (
	_ kv.Engine   = (*Engine)(nil)
	_ kv.Stater   = (*Engine)(nil)
	_ kv.Checker  = (*Engine)(nil)
	_ kv.Backuper = (*Engine)(nil)
)

// Open opens (or creates, mode 0600) the bbolt file at path.
func Open(path string, o *bolt.Options) (*Engine, error) {
	db, err := bolt.Open(path, 0o600, o)
	if err != nil {
		return nil, err
	}
	return New(db), nil
}

// New wraps an open database; Close closes it.
func New(db *bolt.DB) *Engine {
	return &Engine{db: db}
}

// DB is the bbolt database, for what only bbolt has (a consistent copy
// of the file, its page check, its stats).
func (e *Engine) DB() *bolt.DB { return e.db }

func (e *Engine) Name() string { return "bbolt" }

func (e *Engine) Close() error { return e.db.Close() }

func (e *Engine) Begin(ctx context.Context, writable bool) (kv.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx, err := e.db.Begin(writable)
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return nil, kv.ErrClosed
	}
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, e: e}, nil
}

func (e *Engine) Listen(ctx context.Context, channel string) <-chan struct{} {
	return e.hub.Listen(ctx, channel)
}

// Stats reports the file's size on disk (file_bytes: bbolt grows it ahead
// of need), the part of it in use (data_bytes: what Backup copies),
// bbolt's free pages, and what the transactions since Open wrote:
// pages_written (pages, overflow pages included, meta page not) and
// page_writes (pwrite calls, meta page included), the figures a commit's
// cost follows (bench tests report them per message).
func (e *Engine) Stats(context.Context) (map[string]int64, error) {
	s := e.db.Stats()
	out := map[string]int64{
		"free_pages":    int64(s.FreePageN),
		"pending_pages": int64(s.PendingPageN),
		"pages_written": s.TxStats.GetPageCount(),
		"page_writes":   s.TxStats.GetWrite(),
	}
	fi, err := os.Stat(e.db.Path())
	if err != nil {
		return nil, err
	}
	out["file_bytes"] = fi.Size()
	err = e.db.View(func(tx *bolt.Tx) error {
		out["data_bytes"] = tx.Size()
		return nil
	})
	return out, err
}

// Check runs bbolt's consistency check of every page.
func (e *Engine) Check(context.Context) []error {
	var errs []error
	_ = e.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	return errs
}

// Backup writes a consistent copy of the whole file to w while writers go
// on (bbolt's Tx.WriteTo in a read transaction).
func (e *Engine) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := e.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Tx is kv.Tx on a bbolt transaction.
type Tx struct {
	tx       *bolt.Tx
	e        *Engine
	channels []string
}

// Bolt is the bbolt transaction underneath.
func (t *Tx) Bolt() *bolt.Tx { return t.tx }

func (t *Tx) Writable() bool { return t.tx.Writable() }

func (t *Tx) Bucket(name string) kv.Bucket {
	b := t.tx.Bucket([]byte(name))
	if b == nil {
		return missing(name)
	}
	return bucket{b}
}

func (t *Tx) CreateBucket(name string) error {
	_, err := t.tx.CreateBucketIfNotExists([]byte(name))
	return err
}

func (t *Tx) Notify(channel string) {
	for _, c := range t.channels {
		if c == channel {
			return
		}
	}
	if len(t.channels) == 0 {
		t.tx.OnCommit(func() {
			for _, c := range t.channels {
				t.e.hub.Notify(c)
			}
		})
	}
	t.channels = append(t.channels, channel)
}

func (t *Tx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

func (t *Tx) Commit() error {
	err := t.tx.Commit()
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return kv.ErrClosed
	}
	return err
}

func (t *Tx) Rollback() error {
	err := t.tx.Rollback()
	if errors.Is(err, bolterrors.ErrTxClosed) {
		return nil
	}
	return err
}

type bucket struct{ b *bolt.Bucket }

func (b bucket) Get(key []byte) ([]byte, error) { return b.b.Get(key), nil }
func (b bucket) Put(key, value []byte) error    { return b.b.Put(key, value) }
func (b bucket) Delete(key []byte) error        { return b.b.Delete(key) }
func (b bucket) NextSequence() (uint64, error)  { return b.b.NextSequence() }
func (b bucket) Sequence() (uint64, error)      { return b.b.Sequence(), nil }
func (b bucket) Count() (int, error)            { return b.b.Stats().KeyN, nil }

func (b bucket) Range(r kv.Range, fn func(key, value []byte) error) error {
	c := b.b.Cursor()
	var k, v []byte
	inRange := func(k []byte) bool {
		return k != nil && (r.Start == nil || bytes.Compare(k, r.Start) >= 0) &&
			(r.End == nil || bytes.Compare(k, r.End) < 0)
	}
	next := c.Next
	if r.Reverse {
		next = c.Prev
		if r.End == nil {
			k, v = c.Last()
		} else if k, v = c.Seek(r.End); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	} else if r.Start == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(r.Start)
	}
	for n := 0; inRange(k) && (r.Limit == 0 || n < r.Limit); n++ {
		if err := fn(k, v); err != nil {
			if errors.Is(err, kv.Stop) {
				return nil
			}
			return err
		}
		k, v = next()
	}
	return nil
}

type missing string

func (m missing) err() error                                    { return fmt.Errorf("bucket %q: %w", string(m), kv.ErrNoBucket) }
func (m missing) Get([]byte) ([]byte, error)                    { return nil, m.err() }
func (m missing) Put(_, _ []byte) error                         { return m.err() }
func (m missing) Delete([]byte) error                           { return m.err() }
func (m missing) NextSequence() (uint64, error)                 { return 0, m.err() }
func (m missing) Sequence() (uint64, error)                     { return 0, m.err() }
func (m missing) Count() (int, error)                           { return 0, m.err() }
func (m missing) Range(kv.Range, func(_, _ []byte) error) error { return m.err() }
