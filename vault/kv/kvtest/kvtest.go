// Package kvtest is the conformance suite every kv engine passes: what
// package kv promises, checked the same way on each (boltkv always, pgkv
// with PostgreSQL). An engine's test calls Run with a function that opens a
// fresh, empty store. It is imported by tests only.
package kvtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"sigill/vault/kv"
)

// Option changes what Run expects of an engine.
type Option func(*options)

type options struct{ concurrentWriters bool }

// ConcurrentWriters: the engine runs write transactions side by side
// (PostgreSQL), so two of them can conflict, and SkipLocked must keep them
// apart. Without it (bbolt) a second write transaction waits for the first.
func ConcurrentWriters() Option { return func(o *options) { o.concurrentWriters = true } }

// wait bounds every wait for something that must happen; never an
// assertion about how long it took.
const wait = 30 * time.Second

// Run runs the suite; open returns a new engine on an empty store, which
// Run closes.
func Run(t *testing.T, open func(t *testing.T) kv.Engine, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	fresh := func(t *testing.T) kv.Engine {
		e := open(t)
		t.Cleanup(func() { e.Close() })
		return e
	}
	t.Run("Order", func(t *testing.T) { testOrder(t, fresh(t)) })
	t.Run("Range", func(t *testing.T) { testRange(t, fresh(t)) })
	t.Run("Prefix", func(t *testing.T) { testPrefix(t, fresh(t)) })
	t.Run("GetPutDelete", func(t *testing.T) { testGetPutDelete(t, fresh(t)) })
	t.Run("Sequence", func(t *testing.T) { testSequence(t, fresh(t)) })
	t.Run("SequenceConcurrent", func(t *testing.T) { testSequenceConcurrent(t, fresh(t)) })
	t.Run("ReadOnly", func(t *testing.T) { testReadOnly(t, fresh(t)) })
	t.Run("Rollback", func(t *testing.T) { testRollback(t, fresh(t)) })
	t.Run("OnCommit", func(t *testing.T) { testOnCommit(t, fresh(t)) })
	t.Run("NotifyListen", func(t *testing.T) { testNotifyListen(t, fresh(t), o) })
	t.Run("NoBucket", func(t *testing.T) { testNoBucket(t, fresh(t)) })
	t.Run("UpdateLosesNothing", func(t *testing.T) { testUpdateLosesNothing(t, fresh(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, open(t)) })
	if o.concurrentWriters {
		t.Run("Conflict", func(t *testing.T) { testConflict(t, fresh(t)) })
		t.Run("SkipLocked", func(t *testing.T) { testSkipLocked(t, fresh(t)) })
	} else {
		t.Run("SkipLockedAlone", func(t *testing.T) { testSkipLockedAlone(t, fresh(t)) })
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*wait)
	t.Cleanup(cancel)
	return c
}

func update(t *testing.T, e kv.Engine, fn func(kv.Tx) error) {
	t.Helper()
	if err := kv.Update(ctx(t), e, 10, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t *testing.T, e kv.Engine, fn func(kv.Tx) error) {
	t.Helper()
	if err := kv.View(ctx(t), e, fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// fill makes bucket b holding keys, each valued "v"+key.
func fill(t *testing.T, e kv.Engine, b string, keys ...string) {
	t.Helper()
	update(t, e, func(tx kv.Tx) error {
		if err := tx.CreateBucket(b); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Bucket(b).Put([]byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// keys lists what r yields in b, checking each value.
func keys(t *testing.T, e kv.Engine, b string, r kv.Range) []string {
	t.Helper()
	var got []string
	view(t, e, func(tx kv.Tx) error {
		return tx.Bucket(b).Range(r, func(k, v []byte) error {
			if string(v) != "v"+string(k) {
				return fmt.Errorf("key %q has value %q", k, v)
			}
			got = append(got, string(k))
			return nil
		})
	})
	return got
}

// rangeKeys is the keys of r in b, inside the caller's transaction.
func rangeKeys(t *testing.T, b kv.Bucket, r kv.Range) []string {
	t.Helper()
	var got []string
	if err := b.Range(r, func(k, _ []byte) error {
		got = append(got, string(k))
		return nil
	}); err != nil {
		t.Errorf("Range: %v", err)
	}
	return got
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

// testOrder: keys come back in bytes.Compare order, whatever order they
// were put in: a prefix before its extensions, 0x00 and 0xff bytes as
// numbers, not characters.
func testOrder(t *testing.T, e kv.Engine) {
	in := []string{"b", "a\xff", "a", "\xff", "a\x00", "\x01", "ab", "B", "\x00\x00", "\x00"}
	fill(t, e, "o", in...)
	want := slices.Clone(in)
	slices.SortFunc(want, func(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) })
	same(t, "ascending", keys(t, e, "o", kv.Range{}), want)
	slices.Reverse(want)
	same(t, "descending", keys(t, e, "o", kv.Range{Reverse: true}), want)
}

func testRange(t *testing.T, e kv.Engine) {
	fill(t, e, "r", "a", "b", "c", "d", "e")
	for _, c := range []struct {
		r    kv.Range
		want []string
	}{
		{kv.Range{Start: []byte("b")}, []string{"b", "c", "d", "e"}},
		{kv.Range{Start: []byte("bb")}, []string{"c", "d", "e"}},
		{kv.Range{End: []byte("c")}, []string{"a", "b"}},
		{kv.Range{Start: []byte("b"), End: []byte("d")}, []string{"b", "c"}},
		{kv.Range{Start: []byte("b"), End: []byte("b")}, nil},
		{kv.Range{Start: []byte("d"), End: []byte("b")}, nil},
		{kv.Range{Start: []byte("f")}, nil},
		{kv.Range{Limit: 2}, []string{"a", "b"}},
		{kv.Range{Start: []byte("b"), Limit: 2}, []string{"b", "c"}},
		{kv.Range{Reverse: true, Limit: 2}, []string{"e", "d"}},
		{kv.Range{Reverse: true, End: []byte("d")}, []string{"c", "b", "a"}},
		{kv.Range{Reverse: true, End: []byte("cc")}, []string{"c", "b", "a"}},
		{kv.Range{Reverse: true, End: []byte("z")}, []string{"e", "d", "c", "b", "a"}},
		{kv.Range{Reverse: true, Start: []byte("b"), End: []byte("e"), Limit: 2}, []string{"d", "c"}},
		{kv.Range{Reverse: true, Start: []byte("c")}, []string{"e", "d", "c"}},
	} {
		same(t, fmt.Sprintf("%+v", c.r), keys(t, e, "r", c.r), c.want)
	}

	// Stop ends the range quietly; another error ends it and comes back.
	var seen []string
	view(t, e, func(tx kv.Tx) error {
		return tx.Bucket("r").Range(kv.Range{}, func(k, _ []byte) error {
			seen = append(seen, string(k))
			if len(seen) == 2 {
				return kv.Stop
			}
			return nil
		})
	})
	same(t, "stopped after two", seen, []string{"a", "b"})
	boom := errors.New("boom")
	seen = nil
	err := kv.View(ctx(t), e, func(tx kv.Tx) error {
		return tx.Bucket("r").Range(kv.Range{}, func(k, _ []byte) error {
			seen = append(seen, string(k))
			return boom
		})
	})
	if !errors.Is(err, boom) || len(seen) != 1 {
		t.Errorf("an error from fn: Range returned %v after %q, want boom after one key", err, seen)
	}

	// kv.First, and the transaction goes on after a stopped range.
	view(t, e, func(tx kv.Tx) error {
		k, v, err := kv.First(tx.Bucket("r"), kv.Range{Start: []byte("c"), Reverse: true})
		if err != nil || string(k) != "e" || string(v) != "ve" {
			t.Errorf("First reverse from c = %q, %q, %v; want e, ve", k, v, err)
		}
		k, v, err = kv.First(tx.Bucket("r"), kv.Range{Start: []byte("x")})
		if err != nil || k != nil || v != nil {
			t.Errorf("First of an empty range = %q, %q, %v; want nothing", k, v, err)
		}
		if got, err := tx.Bucket("r").Get([]byte("a")); err != nil || string(got) != "va" {
			t.Errorf("Get after ranges = %q, %v", got, err)
		}
		return nil
	})
}

func testPrefix(t *testing.T, e kv.Engine) {
	fill(t, e, "p", "a", "ab", "ab\x00", "ab\xff", "ab\xff\xff", "ac", "b", "\xff\xff", "\xff\xff\x01")
	same(t, "prefix ab", keys(t, e, "p", kv.Prefix([]byte("ab"))), []string{"ab", "ab\x00", "ab\xff", "ab\xff\xff"})
	same(t, "prefix ab\\xff", keys(t, e, "p", kv.Prefix([]byte("ab\xff"))), []string{"ab\xff", "ab\xff\xff"})
	same(t, "prefix \\xff\\xff", keys(t, e, "p", kv.Prefix([]byte("\xff\xff"))), []string{"\xff\xff", "\xff\xff\x01"})
	same(t, "prefix z", keys(t, e, "p", kv.Prefix([]byte("z"))), nil)
	r := kv.Prefix([]byte("ab"))
	r.Reverse, r.Limit = true, 3
	same(t, "prefix ab reversed, 3", keys(t, e, "p", r), []string{"ab\xff\xff", "ab\xff", "ab\x00"})
}

func testGetPutDelete(t *testing.T, e kv.Engine) {
	big := bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10) // past any page or TOAST threshold
	update(t, e, func(tx kv.Tx) error {
		if err := tx.CreateBucket("g"); err != nil {
			return err
		}
		if err := tx.CreateBucket("g"); err != nil {
			return fmt.Errorf("creating a bucket twice: %w", err)
		}
		b := tx.Bucket("g")
		for k, v := range map[string][]byte{"k": []byte("one"), "empty": {}, "nil": nil, "big": big} {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if err := b.Put([]byte("k"), []byte("two")); err != nil { // overwrite
			return err
		}
		// Written values read back inside the transaction.
		if v, err := b.Get([]byte("k")); err != nil || string(v) != "two" {
			t.Errorf("Get in the writing transaction = %q, %v", v, err)
		}
		if err := b.Put(nil, []byte("x")); err == nil {
			t.Errorf("Put with an empty key succeeded")
		}
		return nil
	})
	view(t, e, func(tx kv.Tx) error {
		b := tx.Bucket("g")
		if v, err := b.Get([]byte("k")); err != nil || string(v) != "two" {
			t.Errorf("Get k = %q, %v; want two", v, err)
		}
		for _, k := range []string{"empty", "nil"} {
			if v, err := b.Get([]byte(k)); err != nil || v == nil || len(v) != 0 {
				t.Errorf("Get %s = %#v, %v; want an empty, non-nil value", k, v, err)
			}
		}
		if v, err := b.Get([]byte("big")); err != nil || !bytes.Equal(v, big) {
			t.Errorf("Get big: %d bytes, %v; want %d", len(v), err, len(big))
		}
		if v, err := b.Get([]byte("missing")); err != nil || v != nil {
			t.Errorf("Get missing = %#v, %v; want nil", v, err)
		}
		if n, err := b.Count(); err != nil || n != 4 {
			t.Errorf("Count = %d, %v; want 4", n, err)
		}
		return nil
	})
	update(t, e, func(tx kv.Tx) error {
		b := tx.Bucket("g")
		if err := b.Delete([]byte("k")); err != nil {
			return err
		}
		if err := b.Delete([]byte("never there")); err != nil {
			return fmt.Errorf("deleting a missing key: %w", err)
		}
		if v, err := b.Get([]byte("k")); err != nil || v != nil {
			t.Errorf("Get after Delete in the same transaction = %q, %v", v, err)
		}
		// A Range sends a server engine's pending writes; what the
		// transaction wrote before and after reads back the same.
		if err := b.Put([]byte("k2"), []byte("before")); err != nil {
			return err
		}
		if got := rangeKeys(t, b, kv.Prefix([]byte("k"))); !slices.Equal(got, []string{"k2"}) {
			t.Errorf("Range after Delete k and Put k2 = %q; want [k2]", got)
		}
		if err := b.Put([]byte("k"), []byte("again")); err != nil {
			return err
		}
		for k, want := range map[string]string{"k": "again", "k2": "before", "empty": ""} {
			if v, err := b.Get([]byte(k)); err != nil || v == nil || string(v) != want {
				t.Errorf("Get %s = %#v, %v; want %q", k, v, err, want)
			}
		}
		return b.Delete([]byte("k"))
	})
	update(t, e, func(tx kv.Tx) error {
		return tx.Bucket("g").Delete([]byte("k2"))
	})
	view(t, e, func(tx kv.Tx) error {
		if v, err := tx.Bucket("g").Get([]byte("k")); err != nil || v != nil {
			t.Errorf("Get after Delete = %q, %v; want nil", v, err)
		}
		if n, err := tx.Bucket("g").Count(); err != nil || n != 3 {
			t.Errorf("Count after Delete = %d, %v; want 3", n, err)
		}
		return nil
	})
}

func next(t *testing.T, tx kv.Tx, b string) uint64 {
	t.Helper()
	n, err := tx.Bucket(b).NextSequence()
	if err != nil {
		t.Fatalf("NextSequence(%s): %v", b, err)
	}
	return n
}

// testSequence: numbers start at 1, increase by one, are per bucket, and a
// rolled back transaction gives its numbers back.
func testSequence(t *testing.T, e kv.Engine) {
	fill(t, e, "s1")
	fill(t, e, "s2")
	update(t, e, func(tx kv.Tx) error {
		if a, b := next(t, tx, "s1"), next(t, tx, "s1"); a != 1 || b != 2 {
			t.Errorf("first numbers %d, %d; want 1, 2", a, b)
		}
		if n := next(t, tx, "s2"); n != 1 {
			t.Errorf("another bucket's first number %d; want 1", n)
		}
		if n, err := tx.Bucket("s1").Sequence(); err != nil || n != 2 {
			t.Errorf("Sequence in the transaction that took 1 and 2 = %d, %v; want 2", n, err)
		}
		return nil
	})
	tx, err := e.Begin(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if n := next(t, tx, "s1"); n != 3 {
		t.Errorf("number after 2 is %d", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	update(t, e, func(tx kv.Tx) error {
		if n := next(t, tx, "s1"); n != 3 {
			t.Errorf("after a rolled back 3, NextSequence = %d; want 3 again", n)
		}
		return nil
	})
	// Several numbers in one transaction, among other writes: the last
	// one is what the next transaction counts on from.
	update(t, e, func(tx kv.Tx) error {
		for want := uint64(4); want <= 6; want++ {
			if n := next(t, tx, "s1"); n != want {
				t.Errorf("number %d in a row = %d", want, n)
			}
			if err := tx.Bucket("s1").Put(fmt.Appendf(nil, "n%d", want), nil); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, e, func(tx kv.Tx) error {
		if n := next(t, tx, "s1"); n != 7 {
			t.Errorf("after a transaction that took 4 to 6, NextSequence = %d; want 7", n)
		}
		return nil
	})
	view(t, e, func(tx kv.Tx) error {
		if n, err := tx.Bucket("s1").Sequence(); err != nil || n != 7 {
			t.Errorf("Sequence = %d, %v; want 7", n, err)
		}
		if n, err := tx.Bucket("s2").Sequence(); err != nil || n != 1 {
			t.Errorf("Sequence s2 = %d, %v; want 1", n, err)
		}
		return nil
	})
}

// testSequenceConcurrent: writers taking numbers side by side (kv.Update
// runs a conflicting one again) commit exactly 1..n, each the number after
// the last committed one.
func testSequenceConcurrent(t *testing.T, e kv.Engine) {
	fill(t, e, "sc")
	const commits = 40
	concurrently(t, commits, func() error {
		return kv.Update(ctx(t), e, 100, func(tx kv.Tx) error {
			b := tx.Bucket("sc")
			last, err := b.Get([]byte("last"))
			if err != nil {
				return err
			}
			n, err := b.NextSequence()
			if err != nil {
				return err
			}
			if want := fmt.Sprint(n - 1); n > 1 && string(last) != want {
				return fmt.Errorf("number %d after the last committed %q", n, last)
			}
			if err := b.Put([]byte("last"), []byte(fmt.Sprint(n))); err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "n%03d", n), []byte("vn"+fmt.Sprintf("%03d", n)))
		})
	})
	got := keys(t, e, "sc", kv.Prefix([]byte("n")))
	var want []string
	for n := 1; n <= commits; n++ {
		want = append(want, fmt.Sprintf("n%03d", n))
	}
	same(t, "numbers committed", got, want)
}

func testReadOnly(t *testing.T, e kv.Engine) {
	fill(t, e, "ro", "a")
	tx, err := e.Begin(ctx(t), false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if tx.Writable() {
		t.Errorf("a read transaction says it is writable")
	}
	b := tx.Bucket("ro")
	if err := b.Put([]byte("b"), []byte("x")); err == nil {
		t.Errorf("Put in a read transaction succeeded")
	}
	if err := b.Delete([]byte("a")); err == nil {
		t.Errorf("Delete in a read transaction succeeded")
	}
	if _, err := b.NextSequence(); err == nil {
		t.Errorf("NextSequence in a read transaction succeeded")
	}
	if err := tx.CreateBucket("new"); err == nil {
		t.Errorf("CreateBucket in a read transaction succeeded")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	same(t, "after refused writes", keys(t, e, "ro", kv.Range{}), []string{"a"})
	view(t, e, func(tx kv.Tx) error {
		if n, err := tx.Bucket("ro").Sequence(); err != nil || n != 0 {
			t.Errorf("Sequence after a refused NextSequence = %d, %v", n, err)
		}
		if _, err := tx.Bucket("new").Get([]byte("a")); !errors.Is(err, kv.ErrNoBucket) {
			t.Errorf("a bucket created in a read transaction: Get = %v, want ErrNoBucket", err)
		}
		return nil
	})
	wtx, err := e.Begin(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer wtx.Rollback()
	if !wtx.Writable() {
		t.Errorf("a write transaction says it is not writable")
	}
	wtx.Rollback()
}

// testRollback: nothing a rolled back transaction did stays, nor does an
// Update whose fn failed.
func testRollback(t *testing.T, e kv.Engine) {
	fill(t, e, "rb", "a", "b")
	tx, err := e.Begin(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	b := tx.Bucket("rb")
	if err := b.Put([]byte("c"), []byte("vc")); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put([]byte("b"), []byte("changed")); err != nil {
		t.Fatal(err)
	}
	if err := tx.CreateBucket("rb-new"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	same(t, "after rollback", keys(t, e, "rb", kv.Range{}), []string{"a", "b"})

	failed := errors.New("fn failed")
	err = kv.Update(ctx(t), e, 3, func(tx kv.Tx) error {
		if err := tx.Bucket("rb").Put([]byte("d"), []byte("vd")); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	same(t, "after a failed Update", keys(t, e, "rb", kv.Range{}), []string{"a", "b"})
	view(t, e, func(tx kv.Tx) error {
		if _, err := tx.Bucket("rb-new").Count(); !errors.Is(err, kv.ErrNoBucket) {
			t.Errorf("a bucket made in a rolled back transaction: Count = %v, want ErrNoBucket", err)
		}
		return nil
	})
}

func testOnCommit(t *testing.T, e kv.Engine) {
	fill(t, e, "oc")
	var ran []string
	update(t, e, func(tx kv.Tx) error {
		tx.OnCommit(func() {
			// After the commit: another transaction sees the write.
			view(t, e, func(tx kv.Tx) error {
				v, err := tx.Bucket("oc").Get([]byte("k"))
				ran = append(ran, "first:"+string(v))
				return err
			})
		})
		tx.OnCommit(func() { ran = append(ran, "second") })
		if len(ran) != 0 {
			t.Errorf("OnCommit ran before Commit")
		}
		return tx.Bucket("oc").Put([]byte("k"), []byte("written"))
	})
	same(t, "OnCommit functions", ran, []string{"first:written", "second"})

	ran = nil
	tx, err := e.Begin(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tx.OnCommit(func() { ran = append(ran, "rolled back") })
	tx.Rollback()
	_ = kv.Update(ctx(t), e, 1, func(tx kv.Tx) error {
		tx.OnCommit(func() { ran = append(ran, "failed") })
		return errors.New("no")
	})
	same(t, "OnCommit after rollbacks", ran, nil)
}

// concurrently runs fn n times, from four goroutines at once, and reports
// its errors.
func concurrently(t *testing.T, n int, fn func() error) {
	t.Helper()
	const goroutines = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += goroutines {
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func received(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("no wake-up for %s", what)
	}
}

// testNotifyListen: a wake-up arrives after the notifying transaction
// commits, for every listener of the channel and no other, never for a
// rolled back one; and Listen ends with its context. Absence is checked
// after a later wake-up of a marker channel has arrived (wake-ups arrive in
// commit order), not by waiting a while.
func testNotifyListen(t *testing.T, e kv.Engine, o options) {
	fill(t, e, "nl")
	c := ctx(t)
	a1, a2 := e.Listen(c, "a"), e.Listen(c, "a")
	b := e.Listen(c, "b")
	marker := e.Listen(c, "marker")
	var n int
	notify := func(channels ...string) {
		n++ // a key of its own: no row lock to wait for
		update(t, e, func(tx kv.Tx) error {
			for _, ch := range channels {
				tx.Notify(ch)
			}
			return tx.Bucket("nl").Put(fmt.Appendf(nil, "k%d", n), []byte("v"))
		})
	}
	settle := func() { notify("marker"); await(t, marker, "the marker") }

	// Not before commit.
	tx, err := e.Begin(c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tx.Notify("a")
	if err := tx.Bucket("nl").Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if o.concurrentWriters {
		settle() // another transaction commits while this one is open
	}
	if received(a1) || received(a2) {
		t.Errorf("a wake-up arrived before the transaction committed")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	await(t, a1, "a, first listener")
	await(t, a2, "a, second listener")
	settle()
	if received(b) {
		t.Errorf("a wake-up on b for a transaction that notified a")
	}

	// Never for a rolled back transaction.
	tx, err = e.Begin(c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tx.Notify("a")
	tx.Rollback()
	settle()
	if received(a1) {
		t.Errorf("a wake-up for a rolled back transaction")
	}

	// Several notifications merge, into at least one wake-up.
	notify("a", "b", "a")
	notify("a")
	await(t, a1, "a after two commits")
	await(t, b, "b")
	settle()
	received(a1)

	// A listener whose context ended gets nothing more (and does not hold
	// up the others).
	// Its channel is closed (a subscriber may range over it).
	gone, cancel := context.WithCancel(c)
	late := e.Listen(gone, "a")
	cancel()
	notify("a")
	await(t, a1, "a, with a listener gone")
	deadline := time.After(wait)
	for open := true; open; {
		select {
		case _, open = <-late:
		case <-deadline:
			t.Fatal("a listener's channel stays open after its context ended")
		}
	}
}

func testNoBucket(t *testing.T, e kv.Engine) {
	fill(t, e, "exists", "a")
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, kv.ErrNoBucket) {
			t.Errorf("%s on a missing bucket: %v, want ErrNoBucket", what, err)
		}
	}
	view(t, e, func(tx kv.Tx) error {
		b := tx.Bucket("missing")
		_, err := b.Get([]byte("a"))
		check("Get", err)
		_, err = b.Sequence()
		check("Sequence", err)
		_, err = b.Count()
		check("Count", err)
		check("Range", b.Range(kv.Range{}, func(_, _ []byte) error { return nil }))
		return nil
	})
	tx, err := e.Begin(ctx(t), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	b := tx.Bucket("missing")
	check("Put", b.Put([]byte("a"), []byte("x")))
	check("Delete", b.Delete([]byte("a")))
	_, err = b.NextSequence()
	check("NextSequence", err)
	// A bucket made in the transaction is there at once.
	if err := tx.CreateBucket("made"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Bucket("made").Put([]byte("a"), []byte("va")); err != nil {
		t.Errorf("Put into a bucket made in the same transaction: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	same(t, "made", keys(t, e, "made", kv.Range{}), []string{"a"})
}

// testUpdateLosesNothing: read-modify-write from several goroutines through
// kv.Update: every increment counts.
func testUpdateLosesNothing(t *testing.T, e kv.Engine) {
	fill(t, e, "u")
	const commits = 40
	concurrently(t, commits, func() error {
		return kv.Update(ctx(t), e, 100, func(tx kv.Tx) error {
			b := tx.Bucket("u")
			v, err := b.Get([]byte("counter"))
			if err != nil {
				return err
			}
			var n int
			if v != nil {
				fmt.Sscan(string(v), &n)
			}
			return b.Put([]byte("counter"), []byte(fmt.Sprint(n+1)))
		})
	})
	view(t, e, func(tx kv.Tx) error {
		v, err := tx.Bucket("u").Get([]byte("counter"))
		if string(v) != fmt.Sprint(commits) {
			t.Errorf("counter = %s after %d increments", v, commits)
		}
		return err
	})
}

func testClosed(t *testing.T, e kv.Engine) {
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Begin(ctx(t), false); !errors.Is(err, kv.ErrClosed) {
		t.Errorf("Begin on a closed engine: %v, want ErrClosed", err)
	}
}

// testConflict: two transactions read the same key and both write it:
// one commits, the other fails with ErrConflict (at its write or at
// Commit), and nothing of it stays.
func testConflict(t *testing.T, e kv.Engine) {
	fill(t, e, "c", "k")
	c := ctx(t)
	txs := make([]kv.Tx, 2)
	for i := range txs {
		tx, err := e.Begin(c, true)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Bucket("c").Get([]byte("k")); err != nil {
			t.Fatal(err)
		}
		txs[i] = tx
	}
	// Each writes and commits at once; one may wait for the other's row
	// lock until that one ends.
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 2)
	for i, tx := range txs {
		go func() {
			name := fmt.Sprint("tx", i)
			err := tx.Bucket("c").Put([]byte("k"), []byte(name))
			if err == nil {
				err = tx.Commit()
			}
			results <- result{name, err}
		}()
	}
	var winner string
	for range txs {
		select {
		case r := <-results:
			switch {
			case r.err == nil && winner != "":
				t.Errorf("both read-modify-writes committed")
			case r.err == nil:
				winner = r.name
			case !errors.Is(r.err, kv.ErrConflict):
				t.Errorf("the losing read-modify-write: %v, want ErrConflict", r.err)
			}
		case <-time.After(wait):
			t.Fatal("a transaction never ended")
		}
	}
	if winner == "" {
		t.Errorf("neither read-modify-write committed")
	}
	view(t, e, func(tx kv.Tx) error {
		if v, err := tx.Bucket("c").Get([]byte("k")); err != nil || string(v) != winner {
			t.Errorf("k = %q, %v; want the committed transaction's (%q)", v, err, winner)
		}
		return nil
	})
}

// testSkipLocked: two transactions looking for work at once with SkipLocked
// get different rows, and the second does not wait for the first.
func testSkipLocked(t *testing.T, e kv.Engine) {
	fill(t, e, "job", "1", "2", "3")
	c := ctx(t)
	take := func(tx kv.Tx) string {
		t.Helper()
		k, _, err := kv.First(tx.Bucket("job"), kv.Range{SkipLocked: true})
		if err != nil {
			t.Fatal(err)
		}
		return string(k)
	}
	tx1, err := e.Begin(c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	tx2, err := e.Begin(c, true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	first := take(tx1)
	got := make(chan string, 1)
	go func() { got <- take(tx2) }() // would block without SKIP LOCKED: tx1 holds its row
	var second string
	select {
	case second = <-got:
	case <-time.After(wait):
		t.Fatal("the second transaction waited for the first's row")
	}
	if first != "1" || second != "2" {
		t.Errorf("the two took %q and %q, want 1 and 2", first, second)
	}
	// Both take their job away; at most one conflicts (they read the same
	// index), and run again it would take the next free one.
	var conflicts int
	for _, p := range []struct {
		tx  kv.Tx
		key string
	}{{tx1, first}, {tx2, second}} {
		err := p.tx.Bucket("job").Delete([]byte(p.key))
		if err == nil {
			err = p.tx.Commit()
		}
		if errors.Is(err, kv.ErrConflict) {
			conflicts++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if conflicts > 1 {
		t.Errorf("both SkipLocked transactions conflicted")
	}
	// With the rows no longer locked, a SkipLocked range sees them all.
	update(t, e, func(tx kv.Tx) error {
		var n int
		err := tx.Bucket("job").Range(kv.Range{SkipLocked: true}, func(_, _ []byte) error { n++; return nil })
		if n != 3-(2-conflicts) {
			t.Errorf("after the commits, SkipLocked sees %d rows, want %d", n, 3-(2-conflicts))
		}
		return err
	})
}

// testSkipLockedAlone: with one writer SkipLocked changes nothing.
func testSkipLockedAlone(t *testing.T, e kv.Engine) {
	fill(t, e, "job", "1", "2")
	update(t, e, func(tx kv.Tx) error {
		var got []string
		err := tx.Bucket("job").Range(kv.Range{SkipLocked: true}, func(k, _ []byte) error {
			got = append(got, string(k))
			return nil
		})
		same(t, "SkipLocked", got, []string{"1", "2"})
		return err
	})
}
