package pgkv_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"sigill/internal/pgtest"
	"sigill/vault/kv"
)

// TestPgDumpRestore: the backup this engine leaves to PostgreSQL's tools:
// pg_dump of a store, pg_restore into an empty database, and the store
// there opens with every record, every sequence and the key store as they
// were.
func TestPgDumpRestore(t *testing.T) {
	s := pgtest.Shared(t)
	from, to := s.NewDatabase(t), s.NewDatabase(t)
	e := open(t, from)
	ctx := context.Background()
	if err := kv.Update(ctx, e, 1, func(tx kv.Tx) error {
		for _, name := range []string{"a", "b"} {
			if err := tx.CreateBucket(name); err != nil {
				return err
			}
			for i := 0; i < 3; i++ {
				n, err := tx.Bucket(name).NextSequence()
				if err != nil {
					return err
				}
				if err := tx.Bucket(name).Put(fmt.Appendf(nil, "%s%d", name, n), []byte{0, byte(n), 0xff}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.KeyStore(errNone).Save([]byte("sealed keys"), 0); err != nil {
		t.Fatal(err)
	}

	dump := filepath.Join(t.TempDir(), "store.dump")
	if out, err := exec.Command(s.Bin("pg_dump"), "--format=custom", "--file="+dump, "--dbname="+from).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	if out, err := exec.Command(s.Bin("pg_restore"), "--exit-on-error", "--no-owner", "--dbname="+to, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}

	r := open(t, to)
	if errs := r.Check(ctx); len(errs) != 0 {
		t.Errorf("Check of the restored store: %v", errs)
	}
	if err := kv.Update(ctx, r, 1, func(tx kv.Tx) error {
		for _, name := range []string{"a", "b"} {
			var got []string
			if err := tx.Bucket(name).Range(kv.Range{}, func(k, v []byte) error {
				got = append(got, fmt.Sprintf("%s=%x", k, v))
				return nil
			}); err != nil {
				return err
			}
			want := fmt.Sprintf("[%s1=0001ff %s2=0002ff %s3=0003ff]", name, name, name)
			if fmt.Sprint(got) != want {
				t.Errorf("bucket %s restored: %v, want %s", name, got, want)
			}
			if n, err := tx.Bucket(name).NextSequence(); err != nil || n != 4 {
				t.Errorf("bucket %s's next number after the restore: %d, %v; want 4", name, n, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sealed, v, err := r.KeyStore(errNone).Load(); err != nil || string(sealed) != "sealed keys" || v != 1 {
		t.Errorf("restored key store: %q, version %d, %v", sealed, v, err)
	}
}
