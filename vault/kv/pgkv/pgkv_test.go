package pgkv_test

import (
	"context"
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
