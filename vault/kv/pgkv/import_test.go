package pgkv_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"sigill/internal/pgtest"
	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/pgkv"
)

// TestImportFromBolt: a bbolt store copied into an empty PostgreSQL one
// arrives whole (past one COPY's chunk), with its sequences and key store;
// a failed copy leaves the store empty, and a store that is not empty is
// refused and left as it is.
func TestImportFromBolt(t *testing.T) {
	ctx := context.Background()
	src, err := boltkv.Open(filepath.Join(t.TempDir(), "v.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	const many = 2500
	if err := kv.Update(ctx, src, 1, func(tx kv.Tx) error {
		for _, name := range []string{"messages", "events", "empty"} {
			if err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		for i := 0; i < many; i++ {
			n, err := tx.Bucket("events").NextSequence()
			if err != nil {
				return err
			}
			if err := tx.Bucket("events").Put(fmt.Appendf(nil, "%08d", n), fmt.Appendf(nil, "event %d", n)); err != nil {
				return err
			}
		}
		if err := tx.Bucket("messages").Put([]byte{0xff, 0}, nil); err != nil {
			return err
		}
		return tx.Bucket("messages").Put([]byte{0}, []byte{1, 2, 3})
	}); err != nil {
		t.Fatal(err)
	}
	names, err := src.BucketNames()
	if err != nil || fmt.Sprint(names) != "[empty events messages]" {
		t.Fatalf("BucketNames = %v, %v", names, err)
	}

	dst := open(t, pgtest.Shared(t).NewSchema(t))
	if _, err := dst.Import(ctx, src, append(names, "missing"), []byte("keys")); err == nil {
		t.Fatal("a copy of a bucket the source lacks succeeded")
	}
	got, err := dst.Import(ctx, src, names, []byte("keys"))
	if err != nil {
		t.Fatalf("a copy after a failed one: %v", err)
	}
	if fmt.Sprint(got) != fmt.Sprintf("[{empty 0 0} {events %d %d} {messages 2 0}]", many, many) {
		t.Errorf("Import reports %v", got)
	}
	if err := kv.Update(ctx, dst, 1, func(tx kv.Tx) error {
		var n int
		err := tx.Bucket("events").Range(kv.Range{}, func(k, v []byte) error {
			n++
			if string(k) != fmt.Sprintf("%08d", n) || string(v) != fmt.Sprintf("event %d", n) {
				return fmt.Errorf("record %d: %q = %q", n, k, v)
			}
			return nil
		})
		if err != nil || n != many {
			t.Errorf("events copied: %d, %v", n, err)
		}
		if next, err := tx.Bucket("events").NextSequence(); err != nil || next != many+1 {
			t.Errorf("events' next number %d, %v; want %d", next, err, many+1)
		}
		v, err := tx.Bucket("messages").Get([]byte{0xff, 0})
		if err != nil || v == nil || len(v) != 0 {
			t.Errorf("an empty value copied as %#v, %v", v, err)
		}
		if c, err := tx.Bucket("empty").Count(); err != nil || c != 0 {
			t.Errorf("empty bucket: %d, %v", c, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sealed, v, err := dst.KeyStore(errNone).Load(); err != nil || string(sealed) != "keys" || v != 1 {
		t.Errorf("key store copied: %q, version %d, %v", sealed, v, err)
	}

	if _, err := dst.Import(ctx, src, names, nil); !errors.Is(err, pgkv.ErrNotEmpty) {
		t.Errorf("a copy into a store that is not empty: %v, want ErrNotEmpty", err)
	}
	kv.View(ctx, dst, func(tx kv.Tx) error {
		if c, _ := tx.Bucket("events").Count(); c != many {
			t.Errorf("after a refused copy, events holds %d", c)
		}
		return nil
	})
}
