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
