package walkv_test

import (
	"path/filepath"
	"testing"

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
