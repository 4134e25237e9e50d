package walkv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/kvtest"
	"sigill/vault/kv/walkv"
)

// open puts a log in front of a new bbolt file in dir.
func open(t *testing.T, dir string) *walkv.Engine {
	t.Helper()
	inner, err := boltkv.Open(filepath.Join(dir, "kv.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := walkv.Open(inner, filepath.Join(dir, "kv.db.log"))
	if err != nil {
		inner.Close()
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine { return open(t, t.TempDir()) })
}

// TestRemapUnderLoad: bbolt grows its mapping (32 KiB, doubling) while
// writers and readers run, over and over as the file grows to tens of
// MiB. A remap waits for every bbolt read transaction; a writer that held
// its snapshot while waiting for the engine's lock, held by a Begin
// waiting for the remap, stopped the store for good.
func TestRemapUnderLoad(t *testing.T) {
	dir := t.TempDir()
	inner, err := boltkv.Open(filepath.Join(dir, "kv.db"), nil) // no initial mapping: many remaps
	if err != nil {
		t.Fatal(err)
	}
	e, err := walkv.Open(inner, filepath.Join(dir, "kv.db.log"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), 64<<10)
	var done atomic.Bool
	var progress atomic.Int64
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; i < 150 && !done.Load(); i++ {
				err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
					if err := tx.CreateBucket("b"); err != nil {
						return err
					}
					if _, err := tx.Bucket("b").Get([]byte("k0-0")); err != nil {
						return err
					}
					return tx.Bucket("b").Put(fmt.Appendf(nil, "k%d-%d", w, i), value)
				})
				if err != nil {
					t.Error(err)
					return
				}
				progress.Add(1)
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for !done.Load() && progress.Load() < 450 {
				err := kv.View(ctx, e, func(tx kv.Tx) error {
					_, err := tx.Bucket("b").Get([]byte("k1-1"))
					if errors.Is(err, kv.ErrNoBucket) {
						err = nil
					}
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for last := int64(-1); ; {
		select {
		case <-finished:
			if n := progress.Load(); n != 450 {
				t.Errorf("%d commits of 450", n)
			}
			if err := e.Close(); err != nil {
				t.Error(err)
			}
			return
		case <-time.After(10 * time.Second):
			if n := progress.Load(); n == last {
				done.Store(true)
				t.Fatalf("no commit for 10 s after %d of 450: the store is stuck", n) // left open: Close would wait too
			} else {
				last = n
			}
		}
	}
}

// TestReaderKeepsItsSnapshot: a read transaction sees the store as it was
// at its Begin while commits go on after it, are applied underneath, and
// are dropped from the pending index, and commits come after that too.
// The pending index is shared between transactions and grows by appends
// behind the end an older transaction reads to.
func TestReaderKeepsItsSnapshot(t *testing.T) {
	// A mapping large enough that applying needs no remap, which would
	// wait for the reader held open here (the vault maps 512 MiB).
	dir := t.TempDir()
	inner, err := boltkv.Open(filepath.Join(dir, "kv.db"), &bolt.Options{InitialMmapSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e, err := walkv.Open(inner, filepath.Join(dir, "kv.db.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	e.Pause(true)
	update := func(fn func(b kv.Bucket) error) {
		t.Helper()
		if err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
			if err := tx.CreateBucket("b"); err != nil {
				return err
			}
			return fn(tx.Bucket("b"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(k, v string) func(kv.Bucket) error {
		return func(b kv.Bucket) error { return b.Put([]byte(k), []byte(v)) }
	}
	update(put("k1", "v1"))
	update(put("k2", "v1"))
	update(put("k1", "v2"))

	reader, err := e.Begin(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	want := map[string]string{"k1": "v2", "k2": "v1"}
	check := func(when string) {
		t.Helper()
		b := reader.Bucket("b")
		for _, k := range []string{"k1", "k2", "k3"} {
			v, err := b.Get([]byte(k))
			if err != nil || string(v) != want[k] {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", when, k, v, err, want[k])
			}
		}
		got := map[string]string{}
		if err := b.Range(kv.Range{}, func(k, v []byte) error { got[string(k)] = string(v); return nil }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: Range = %v; want %v", when, got, want)
		}
		if n, err := b.Count(); err != nil || n != len(want) {
			t.Errorf("%s: Count = %d, %v; want %d", when, n, err, len(want))
		}
	}
	check("at Begin")

	update(put("k1", "v3"))
	update(func(b kv.Bucket) error { return b.Delete([]byte("k2")) })
	update(put("k3", "v3"))
	check("after later commits")

	e.Pause(false)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := e.Pending(); n != 0 {
		t.Fatalf("%d commits still pending after Flush", n)
	}
	check("after they were applied")

	e.Pause(true)
	update(put("k1", "v4"))
	update(put("k2", "v4"))
	check("after commits on the trimmed index")

	if err := kv.View(ctx, e, func(tx kv.Tx) error {
		for k, w := range map[string]string{"k1": "v4", "k2": "v4", "k3": "v3"} {
			if v, err := tx.Bucket("b").Get([]byte(k)); err != nil || string(v) != w {
				t.Errorf("a new reader: Get(%s) = %q, %v; want %q", k, v, err, w)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
