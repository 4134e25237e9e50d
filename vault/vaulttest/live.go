package vaulttest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/walkv"
)

// LiveFinding is one place of a vault file's live data that holds a
// needle.
type LiveFinding struct {
	Bucket string // the bucket's path, "/"-joined
	Key    string // the record's key, quoted
	Needle string
}

func (f LiveFinding) String() string {
	return fmt.Sprintf("%q in bucket %s, key %s", f.Needle, f.Bucket, f.Key)
}

// LiveContains reads a copy of the vault file at path (with its
// write-ahead log applied) as bbolt does, every bucket and record
// reachable from the root, and reports each key or
// value holding one of needles: what the file's live data says, free
// pages left out. (Scan and a byte search read the free pages too.) The
// copy lets it run beside a sigill that holds the file's lock.
func LiveContains(path string, needles ...string) ([]LiveFinding, error) {
	dir, err := os.MkdirTemp("", "vaulttest-live-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	copyPath := filepath.Join(dir, "copy.db")
	for _, suffix := range []string{"", walkv.LogSuffix} {
		raw, err := os.ReadFile(path + suffix)
		if suffix != "" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(copyPath+suffix, raw, 0o600); err != nil {
			return nil, err
		}
	}
	// Live data is the file with its write-ahead log applied, as the next
	// start would apply it.
	inner, err := boltkv.Open(copyPath, nil)
	if err != nil {
		return nil, err
	}
	applied, err := walkv.Open(inner, copyPath+walkv.LogSuffix)
	if err != nil {
		inner.Close()
		return nil, err
	}
	if err := applied.Close(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(copyPath, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []LiveFinding
	var walk func(name string, b *bolt.Bucket) error
	walk = func(name string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			for _, n := range needles {
				if bytes.Contains(k, []byte(n)) || bytes.Contains(v, []byte(n)) {
					out = append(out, LiveFinding{Bucket: name, Key: fmt.Sprintf("%q", k), Needle: n})
				}
			}
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return walk(name+"/"+string(k), sub)
				}
			}
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			for _, n := range needles {
				if bytes.Contains(name, []byte(n)) {
					out = append(out, LiveFinding{Bucket: string(name), Needle: n})
				}
			}
			return walk(string(name), b)
		})
	})
	return out, err
}
