package pgkv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"sigill/vault/kv"
)

// errReadOnly is what a write in a read transaction fails with, before
// PostgreSQL is asked (its refusal would abort the transaction).
var errReadOnly = errors.New("pgkv: write in a read-only transaction")

// errEmptyKey: bbolt refuses an empty key, and so does this engine, so that
// code tested on one runs on the other.
var errEmptyKey = errors.New("pgkv: empty key")

// Tx is kv.Tx on a PostgreSQL transaction.
type Tx struct {
	e        *Engine
	tx       pgx.Tx
	ctx      context.Context
	writable bool

	created map[string]bool // buckets this transaction made
	// Puts and Deletes not yet sent: they go together, one round trip,
	// before anything else is sent (a read must see them) and before
	// COMMIT. A failing write therefore fails the next call, or Commit.
	pending  pgx.Batch
	pendingB []string // each pending write's bucket, for its error
	// written is this transaction's last write of each key (a nil value:
	// deleted), so that a Get of a key it wrote is answered here, and a Get
	// of any other key is asked without sending the pending writes first:
	// they touch only the keys in written.
	written map[writtenKey][]byte
	// seqs holds the sequences this transaction took a number of: the
	// first NextSequence of a bucket locks its row with UPDATE … RETURNING,
	// the later ones count here and the last number goes to the row with
	// the pending writes (seqDirty).
	seqs     map[string]uint64
	seqDirty map[string]bool
	channels []string
	onCommit []func()
	done     bool
	// failed is the first error PostgreSQL answered with: the transaction
	// is aborted on the server, and Commit returns it.
	failed error
}

// writtenKey is a bucket's key in Tx.written.
type writtenKey struct{ bucket, key string }

func (t *Tx) Writable() bool { return t.writable }

func (t *Tx) Bucket(name string) kv.Bucket { return &bucket{t: t, name: name} }

func (t *Tx) CreateBucket(name string) error {
	if !t.writable {
		return errReadOnly
	}
	if _, ok := t.e.buckets.Load(name); ok || t.created[name] {
		return nil
	}
	tag, err := t.exec("INSERT INTO buckets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name)
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		t.e.buckets.Store(name, struct{}{}) // it was there, committed
		return nil
	}
	if t.created == nil {
		t.created = map[string]bool{}
	}
	t.created[name] = true
	return nil
}

func (t *Tx) Notify(channel string) {
	c := t.e.pgChannel(channel)
	for _, have := range t.channels {
		if have == c {
			return
		}
	}
	t.channels = append(t.channels, c)
}

func (t *Tx) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

func (t *Tx) Commit() error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if !t.writable {
		return t.Rollback()
	}
	// The sequences' last numbers and the wake-ups go with the last
	// writes: one batch, then COMMIT.
	for name, dirty := range t.seqDirty {
		if dirty {
			t.pending.Queue("UPDATE buckets SET seq = $2 WHERE name = $1", name, int64(t.seqs[name]))
			t.pendingB = append(t.pendingB, name)
		}
	}
	for _, c := range t.channels {
		t.pending.Queue("SELECT pg_notify($1, '')", c)
		t.pendingB = append(t.pendingB, "(wake-up "+c+")")
	}
	if err := t.usable(); err != nil {
		_ = t.Rollback()
		return err
	}
	t.done = true
	t.e.roundTrips.Add(1)
	if err := t.tx.Commit(t.ctx); err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	for name := range t.created {
		t.e.buckets.Store(name, struct{}{})
	}
	for _, fn := range t.onCommit {
		fn()
	}
	return nil
}

func (t *Tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	// Even when the transaction's context has ended: the connection must
	// go back to the pool clean.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 10*time.Second)
	defer cancel()
	err := t.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// exec runs a statement, remembering a failure (which aborts the
// transaction on the server).
func (t *Tx) exec(sql string, args ...any) (tag interface{ RowsAffected() int64 }, err error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	t.e.roundTrips.Add(1)
	ct, err := t.tx.Exec(t.ctx, sql, args...)
	if err != nil {
		return nil, t.fail(err)
	}
	return ct, nil
}

// queryRow runs a query of one row without sending the pending writes
// first: for a read that none of them can change (a key not in written, a
// bucket's row, a bucket they do not write to), remembering a failure.
func (t *Tx) queryRow(sql string, args []any, dest ...any) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if t.failed != nil {
		return t.failed
	}
	t.e.roundTrips.Add(1)
	err := t.tx.QueryRow(t.ctx, sql, args...).Scan(dest...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return t.fail(err)
	}
	return err
}

// usable fails when the transaction has ended or failed, and sends the
// pending writes first.
func (t *Tx) usable() error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if t.failed != nil {
		return t.failed
	}
	return t.flush()
}

// usableFor is usable for a read of one bucket: it sends the pending writes
// only when one of them is to that bucket (the others cannot change what
// the read sees).
func (t *Tx) usableFor(bucket string) error {
	if slices.Contains(t.pendingB, bucket) {
		return t.usable()
	}
	if t.done {
		return pgx.ErrTxClosed
	}
	return t.failed
}

// maxPending is how many writes wait at most before they are sent.
const maxPending = 512

func (t *Tx) queue(bucket, sql string, args ...any) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	if t.failed != nil {
		return t.failed
	}
	t.pending.Queue(sql, args...)
	t.pendingB = append(t.pendingB, bucket)
	if t.pending.Len() >= maxPending {
		return t.flush()
	}
	return nil
}

// flush sends the pending writes in one batch.
func (t *Tx) flush() error {
	if t.pending.Len() == 0 {
		return nil
	}
	b, buckets := t.pending, t.pendingB
	t.pending, t.pendingB = pgx.Batch{}, nil
	t.e.roundTrips.Add(1)
	results := t.tx.SendBatch(t.ctx, &b)
	var err error
	for _, name := range buckets {
		if _, err = results.Exec(); err != nil {
			err = fmt.Errorf("write to bucket %q: %w", name, mapError(err))
			break
		}
	}
	if cerr := results.Close(); err == nil && cerr != nil {
		err = mapError(cerr)
	}
	if err != nil {
		t.failed = err
	}
	return err
}

func (t *Tx) fail(err error) error {
	t.failed = mapError(err)
	return t.failed
}

// ensure fails with kv.ErrNoBucket when the bucket does not exist.
func (t *Tx) ensure(name string) error {
	if _, ok := t.e.buckets.Load(name); ok || t.created[name] {
		return nil
	}
	var one int
	err := t.queryRow("SELECT 1 FROM buckets WHERE name = $1", []any{name}, &one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("bucket %q: %w", name, kv.ErrNoBucket)
	}
	if err != nil {
		return err
	}
	// Seen in this transaction's snapshot and not made by it: committed.
	t.e.buckets.Store(name, struct{}{})
	return nil
}

// wrote remembers key's last write in this transaction (nil value: deleted).
func (t *Tx) wrote(bucket string, key, value []byte) {
	if t.written == nil {
		t.written = map[writtenKey][]byte{}
	}
	t.written[writtenKey{bucket, string(key)}] = value
}

type bucket struct {
	t    *Tx
	name string
}

func (b *bucket) wrap(err error) error {
	if err == nil || errors.Is(err, kv.ErrNoBucket) {
		return err
	}
	return fmt.Errorf("bucket %q: %w", b.name, err)
}

func (b *bucket) writable() error {
	if !b.t.writable {
		return errReadOnly
	}
	return b.t.ensure(b.name)
}

func (b *bucket) Get(key []byte) ([]byte, error) {
	if err := b.t.ensure(b.name); err != nil {
		return nil, b.wrap(err)
	}
	if b.t.written != nil { // a read transaction, or one yet to write, has nothing to look up
		if v, ok := b.t.written[writtenKey{b.name, string(key)}]; ok {
			return v, nil
		}
	}
	var v []byte
	err := b.t.queryRow("SELECT value FROM kv WHERE bucket = $1 AND key = $2", []any{b.name, key}, &v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(err)
	}
	if v == nil {
		v = []byte{} // present but empty: not nil, which means missing
	}
	return v, nil
}

func (b *bucket) Put(key, value []byte) error {
	if err := b.writable(); err != nil {
		return b.wrap(err)
	}
	if len(key) == 0 {
		return errEmptyKey
	}
	// Copies: the batch encodes them when it is sent.
	key, value = append([]byte(nil), key...), append([]byte{}, value...)
	b.t.wrote(b.name, key, value)
	return b.t.queue(b.name, `INSERT INTO kv (bucket, key, value) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value`, b.name, key, value)
}

func (b *bucket) Delete(key []byte) error {
	if err := b.writable(); err != nil {
		return b.wrap(err)
	}
	key = append([]byte(nil), key...)
	b.t.wrote(b.name, key, nil)
	return b.t.queue(b.name, "DELETE FROM kv WHERE bucket = $1 AND key = $2", b.name, key)
}

func (b *bucket) NextSequence() (uint64, error) {
	if err := b.writable(); err != nil {
		return 0, b.wrap(err)
	}
	if n, ok := b.t.seqs[b.name]; ok {
		b.t.seqs[b.name] = n + 1
		b.t.seqDirty[b.name] = true
		return n + 1, nil
	}
	var n int64
	err := b.t.queryRow("UPDATE buckets SET seq = seq + 1 WHERE name = $1 RETURNING seq", []any{b.name}, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("bucket %q: %w", b.name, kv.ErrNoBucket)
	}
	if err != nil {
		return 0, b.wrap(err)
	}
	if b.t.seqs == nil {
		b.t.seqs, b.t.seqDirty = map[string]uint64{}, map[string]bool{}
	}
	b.t.seqs[b.name] = uint64(n)
	return uint64(n), nil
}

func (b *bucket) Sequence() (uint64, error) {
	if n, ok := b.t.seqs[b.name]; ok {
		return n, nil
	}
	var n int64
	err := b.t.queryRow("SELECT seq FROM buckets WHERE name = $1", []any{b.name}, &n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("bucket %q: %w", b.name, kv.ErrNoBucket)
	}
	return uint64(n), b.wrap(err)
}

func (b *bucket) Count() (int, error) {
	if err := b.t.ensure(b.name); err != nil {
		return 0, b.wrap(err)
	}
	if err := b.t.usableFor(b.name); err != nil {
		return 0, err
	}
	var n int64
	err := b.t.queryRow("SELECT count(*) FROM kv WHERE bucket = $1", []any{b.name}, &n)
	return int(n), b.wrap(err)
}

func (b *bucket) Range(r kv.Range, fn func(key, value []byte) error) error {
	if r.SkipLocked && !b.t.writable {
		return errors.New("pgkv: SkipLocked in a read-only transaction")
	}
	if err := b.t.ensure(b.name); err != nil {
		return b.wrap(err)
	}
	if err := b.t.usableFor(b.name); err != nil {
		return err
	}
	var q strings.Builder
	args := []any{b.name}
	q.WriteString("SELECT key, value FROM kv WHERE bucket = $1")
	if r.Start != nil {
		args = append(args, r.Start)
		fmt.Fprintf(&q, " AND key >= $%d", len(args))
	}
	if r.End != nil {
		args = append(args, r.End)
		fmt.Fprintf(&q, " AND key < $%d", len(args))
	}
	q.WriteString(" ORDER BY key")
	if r.Reverse {
		q.WriteString(" DESC")
	}
	if r.Limit > 0 {
		args = append(args, r.Limit)
		fmt.Fprintf(&q, " LIMIT $%d", len(args))
	}
	if r.SkipLocked {
		q.WriteString(" FOR UPDATE SKIP LOCKED")
	}
	b.t.e.roundTrips.Add(1)
	rows, err := b.t.tx.Query(b.t.ctx, q.String(), args...)
	if err != nil {
		return b.wrap(b.t.fail(err))
	}
	defer rows.Close()
	for rows.Next() {
		var key, value []byte // Scan copies: kv lets callers keep them until the transaction ends
		if err := rows.Scan(&key, &value); err != nil {
			return b.wrap(b.t.fail(err))
		}
		if value == nil {
			value = []byte{}
		}
		if err := fn(key, value); err != nil {
			rows.Close()
			if errors.Is(err, kv.Stop) {
				err = nil
			}
			if rerr := rows.Err(); rerr != nil && err == nil {
				return b.wrap(b.t.fail(rerr))
			}
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return b.wrap(b.t.fail(err))
	}
	return nil
}
