package walkv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"sigill/vault/kv"
)

// ErrReadOnly is what a change in a read transaction fails with.
var ErrReadOnly = errors.New("walkv: read-only transaction")

// bbolt's limits on a key and a value.
const (
	maxKeySize   = 32768
	maxValueSize = 1<<31 - 2
)

// tx reads, newest first: its own changes (a write transaction), the
// batches logged and not yet applied at Begin, then the engine underneath.
type tx struct {
	e        *Engine
	inner    kv.Tx        // a read transaction of the engine underneath
	pending  pendingIndex // the batches not applied at Begin
	own      *batch       // nil in a read transaction
	channels []string
	onCommit []func()
	done     bool
	buckets  map[string]where // the buckets asked about, and where they are
}

// where a bucket is: anywhere (a layer made it), and underneath.
type where struct {
	anywhere, underneath bool
	under                kv.Bucket // underneath's, opened once per transaction
}

func (t *tx) Writable() bool { return t.own != nil }

func (t *tx) Bucket(name string) kv.Bucket { return bucket{t, name} }

func (t *tx) CreateBucket(name string) error {
	if t.own == nil {
		return ErrReadOnly
	}
	if name == appliedBucket {
		return fmt.Errorf("walkv: bucket name %q is the log's own", name)
	}
	if name == "" || len(name) > maxKeySize {
		return fmt.Errorf("walkv: a bucket name of %d bytes (1 to %d)", len(name), maxKeySize)
	}
	w := t.where(name)
	if w.anywhere {
		return nil
	}
	t.own.changesFor(name).created = true
	w.anywhere = true
	t.buckets[name] = w
	return nil
}

func (t *tx) Notify(channel string) {
	if !slices.Contains(t.channels, channel) {
		t.channels = append(t.channels, channel)
	}
}

func (t *tx) OnCommit(fn func()) { t.onCommit = append(t.onCommit, fn) }

func (t *tx) Commit() error {
	if t.done {
		return fmt.Errorf("walkv: commit: transaction already ended")
	}
	if t.own == nil {
		return t.Rollback()
	}
	t.done = true
	// The snapshot underneath is let go before commit takes the engine's
	// lock: a bbolt commit that must grow its mapping waits for every
	// read transaction, and a Begin holding that lock waits for the
	// mapping, so a writer holding both would stop the store.
	_ = t.inner.Rollback()
	err := t.e.commit(t)
	t.e.writer.Unlock()
	if err != nil {
		return err
	}
	for _, fn := range t.onCommit {
		fn()
	}
	for _, c := range t.channels {
		t.e.hub.Notify(c)
	}
	return nil
}

func (t *tx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	err := t.inner.Rollback()
	if t.own != nil {
		t.e.writer.Unlock()
	}
	return err
}

func (b *batch) changesFor(name string) *changes {
	c := b.buckets[name]
	if c == nil {
		c = &changes{}
		b.buckets[name] = c
	}
	return c
}

// where is where bucket name is: made in this transaction or a pending
// batch (anywhere), or there underneath.
func (t *tx) where(name string) where {
	if w, asked := t.buckets[name]; asked {
		return w
	}
	if name == appliedBucket {
		// The log's own records (its id, the last applied) are not the
		// store's to change: without them the log would be misread.
		return where{}
	}
	if t.buckets == nil {
		t.buckets = map[string]where{}
	}
	under := t.inner.Bucket(name)
	_, err := under.Sequence()
	w := where{underneath: err == nil, under: under}
	w.anywhere = w.underneath
	for _, c := range t.pending[name] {
		if c.created {
			w.anywhere = true
			break
		}
	}
	t.buckets[name] = w
	return w
}

type bucket struct {
	t    *tx
	name string
}

func (b bucket) missing() error {
	return fmt.Errorf("bucket %q: %w", b.name, kv.ErrNoBucket)
}

// open is where the bucket is; it fails for a bucket that is not there,
// and for a change in a read transaction.
func (b bucket) open(write bool) (where, error) {
	if b.t.done {
		return where{}, fmt.Errorf("walkv: transaction already ended")
	}
	w := b.t.where(b.name)
	if !w.anywhere {
		return where{}, b.missing()
	}
	if write && b.t.own == nil {
		return where{}, ErrReadOnly
	}
	return w, nil
}

// newestFirst calls fn with the bucket's changes in each layer, this
// transaction's first, until fn returns true.
func (b bucket) newestFirst(fn func(*changes) bool) {
	if b.t.own != nil {
		if c := b.t.own.buckets[b.name]; c != nil && fn(c) {
			return
		}
	}
	list := b.t.pending[b.name]
	for i := len(list) - 1; i >= 0; i-- {
		if fn(list[i]) {
			return
		}
	}
}

func (b bucket) Get(key []byte) ([]byte, error) {
	w, err := b.open(false)
	if err != nil {
		return nil, err
	}
	var (
		value []byte
		found bool
	)
	b.newestFirst(func(c *changes) bool {
		if i, ok := c.find(key); ok {
			found = true
			if !c.ops[i].del {
				value = c.ops[i].value
			}
		}
		return found
	})
	if found || !w.underneath {
		return value, nil
	}
	return w.under.Get(key)
}

func (b bucket) Put(key, value []byte) error {
	if _, err := b.open(true); err != nil {
		return err
	}
	// bbolt's limits, checked here: the applier must not meet a change
	// its engine refuses after the commit was acknowledged.
	if len(key) == 0 || len(key) > maxKeySize {
		return fmt.Errorf("walkv: a key of %d bytes (1 to %d)", len(key), maxKeySize)
	}
	if len(value) > maxValueSize {
		return fmt.Errorf("walkv: a value of %d bytes (at most %d)", len(value), maxValueSize)
	}
	// Copied: the batch outlives the transaction, and callers may reuse
	// their buffers once Commit returns.
	b.t.own.changesFor(b.name).set(op{key: bytes.Clone(key), value: append(make([]byte, 0, len(value)), value...)})
	return nil
}

func (b bucket) Delete(key []byte) error {
	if _, err := b.open(true); err != nil {
		return err
	}
	if len(key) == 0 || len(key) > maxKeySize {
		return nil // no such key can be there (bbolt does the same)
	}
	b.t.own.changesFor(b.name).set(op{key: bytes.Clone(key), del: true})
	return nil
}

func (b bucket) Sequence() (uint64, error) {
	w, err := b.open(false)
	if err != nil {
		return 0, err
	}
	var (
		seq   uint64
		found bool
	)
	b.newestFirst(func(c *changes) bool {
		seq, found = c.seq, c.seqSet
		return found
	})
	if found || !w.underneath {
		return seq, nil
	}
	return w.under.Sequence()
}

func (b bucket) NextSequence() (uint64, error) {
	if _, err := b.open(true); err != nil {
		return 0, err
	}
	seq, err := b.Sequence()
	if err != nil {
		return 0, err
	}
	c := b.t.own.changesFor(b.name)
	c.seq, c.seqSet = seq+1, true
	return seq + 1, nil
}

// overlay is the layers' changes in r, one per key (the newest), in r's
// order.
func (b bucket) overlay(r kv.Range) []op {
	var all []op
	add := func(c *changes) {
		if c == nil {
			return
		}
		lo, hi := 0, len(c.ops)
		if r.Start != nil {
			lo, _ = c.find(r.Start)
		}
		if r.End != nil {
			hi, _ = c.find(r.End)
		}
		if lo < hi {
			all = append(all, c.ops[lo:hi]...)
		}
	}
	for _, c := range b.t.pending[b.name] { // oldest first
		add(c)
	}
	if b.t.own != nil {
		add(b.t.own.buckets[b.name])
	}
	if len(all) == 0 {
		return nil
	}
	// Stable: of equal keys the newest (last added) stays last.
	slices.SortStableFunc(all, func(x, y op) int { return compare(x.key, y.key) })
	out := all[:0]
	for i, o := range all {
		if i+1 < len(all) && bytes.Equal(o.key, all[i+1].key) {
			continue
		}
		out = append(out, o)
	}
	if r.Reverse {
		slices.Reverse(out)
	}
	return out
}

func (b bucket) Range(r kv.Range, fn func(key, value []byte) error) error {
	w, err := b.open(false)
	if err != nil {
		return err
	}
	over := b.overlay(r)
	if len(over) == 0 {
		if !w.underneath {
			return nil
		}
		return w.under.Range(r, fn)
	}
	var (
		n       int
		stopped bool
		i       int
	)
	emit := func(k, v []byte) error {
		if r.Limit > 0 && n >= r.Limit {
			stopped = true
			return kv.Stop
		}
		n++
		err := fn(k, v)
		if err != nil {
			stopped = true
		}
		return err
	}
	before := func(x, y []byte) bool {
		if r.Reverse {
			return compare(x, y) > 0
		}
		return compare(x, y) < 0
	}
	// emitOverlay emits the overlay's entries before k (all, for nil k).
	emitOverlay := func(k []byte) error {
		for ; i < len(over) && (k == nil || before(over[i].key, k)); i++ {
			if !over[i].del {
				if err := emit(over[i].key, over[i].value); err != nil {
					i++
					return err
				}
			}
		}
		return nil
	}
	if w.underneath {
		inner := r
		inner.Limit = 0 // deletions above may hide some of what is below
		err := w.under.Range(inner, func(k, v []byte) error {
			if err := emitOverlay(k); err != nil {
				return err
			}
			if i < len(over) && bytes.Equal(over[i].key, k) {
				o := over[i]
				i++
				if o.del {
					return nil
				}
				return emit(o.key, o.value)
			}
			return emit(k, v)
		})
		if err != nil || stopped {
			return err
		}
	}
	if err := emitOverlay(nil); err != nil && !errors.Is(err, kv.Stop) {
		return err
	}
	return nil
}

func (b bucket) Count() (int, error) {
	w, err := b.open(false)
	if err != nil {
		return 0, err
	}
	n := 0
	var under kv.Bucket
	if w.underneath {
		under = w.under
		var err error
		if n, err = under.Count(); err != nil {
			return 0, err
		}
	}
	for _, o := range b.overlay(kv.Range{}) {
		there := false
		if under != nil {
			v, err := under.Get(o.key)
			if err != nil {
				return 0, err
			}
			there = v != nil
		}
		switch {
		case o.del && there:
			n--
		case !o.del && !there:
			n++
		}
	}
	return n, nil
}

func compare(a, b []byte) int { return bytes.Compare(a, b) }
