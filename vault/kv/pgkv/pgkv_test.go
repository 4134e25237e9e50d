package pgkv_test

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"sigill/internal/pgtest"
	"sigill/vault/kv"
	"sigill/vault/kv/kvtest"
	"sigill/vault/kv/pgkv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens an engine on the database at url, closed when the test ends.
func open(t *testing.T, url string) *pgkv.Engine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := pgkv.Open(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	s := pgtest.Shared(t)
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		return open(t, s.NewSchema(t))
	}, kvtest.ConcurrentWriters())
}

// TestRoundTrips: a group commit's shape (reads of keys it did not write,
// writes, reads of keys it wrote, ranges of other buckets, several numbers
// of one sequence, a wake-up) costs a round trip per read of the server's
// data, not one more per read for the writes before it, nor one per number
// or per wake-up.
func TestRoundTrips(t *testing.T) {
	s := pgtest.Shared(t)
	e := open(t, s.NewSchema(t))
	ctx := context.Background()
	if err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
		return errors.Join(tx.CreateBucket("b"), tx.CreateBucket("other"))
	}); err != nil {
		t.Fatal(err)
	}
	trips := func() int64 {
		st, err := e.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st["round_trips"]
	}
	const requests = 6
	before := trips()
	err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
		b := tx.Bucket("b")
		for i := range requests {
			k := []byte{byte(i)}
			if v, err := b.Get(k); err != nil || v != nil { // the server's: one round trip
				return cmp.Or(err, errors.New("key there before it was written"))
			}
			n, err := b.NextSequence() // the first: one round trip; the others: none
			if err != nil {
				return err
			}
			if err := b.Put(k, binary.BigEndian.AppendUint64(nil, n)); err != nil {
				return err
			}
			if v, err := b.Get(k); err != nil || binary.BigEndian.Uint64(v) != n { // its own: none
				return cmp.Or(err, fmt.Errorf("read back %x, want %d", v, n))
			}
			// Another bucket's range: one round trip, the writes stay.
			if err := tx.Bucket("other").Range(kv.Range{}, func(_, _ []byte) error { return nil }); err != nil {
				return err
			}
		}
		// Its own bucket's count: the writes go first (one batch), then
		// the count sees them.
		if n, err := b.Count(); err != nil || n != requests {
			return cmp.Or(err, fmt.Errorf("Count = %d in the writing transaction, want %d", n, requests))
		}
		tx.Notify("work")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// BEGIN, a Get and a Range per request, the first number, the batch
	// before Count and Count, the last batch (the sequence's number, the
	// wake-up), COMMIT.
	if got, want := trips()-before, int64(2*requests+6); got != want {
		t.Errorf("the transaction took %d round trips; want %d", got, want)
	}
	if err := kv.View(ctx, e, func(tx kv.Tx) error {
		if n, err := tx.Bucket("b").Sequence(); err != nil || n != requests {
			return cmp.Or(err, fmt.Errorf("sequence %d after the commit, want %d", n, requests))
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}
