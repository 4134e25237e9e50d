package boltkv_test

import (
	"path/filepath"
	"testing"

	"sigill/vault/kv"
	"sigill/vault/kv/boltkv"
	"sigill/vault/kv/kvtest"
)

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Engine {
		e, err := boltkv.Open(filepath.Join(t.TempDir(), "kv.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
