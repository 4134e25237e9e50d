package pgkv_test

import (
	"errors"
	"sync"
	"testing"

	"sigill/internal/pgtest"
	"sigill/vault/kv"
)

var errNone = errors.New("no key store yet")

// TestKeyStoreVersions: the key store row is saved only over the version
// the saver loaded; of two nodes saving over the same version one wins and
// the other gets ErrConflict, its value not stored.
func TestKeyStoreVersions(t *testing.T) {
	url := pgtest.Shared(t).NewSchema(t)
	a, b := open(t, url).KeyStore(errNone), open(t, url).KeyStore(errNone)
	if _, _, err := a.Load(); !errors.Is(err, errNone) {
		t.Fatalf("Load of no key store: %v, want the caller's error", err)
	}

	// Two nodes start at once on no key store: one insert wins.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ks := range []interface{ Save([]byte, uint64) error }{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = ks.Save([]byte{byte('a' + i)}, 0) }()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two first saves: %v and %v, want one to win", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, kv.ErrConflict) {
			t.Fatalf("the losing first save: %v, want ErrConflict", err)
		}
	}
	sealed, v, err := b.Load()
	if err != nil || v != 1 || (string(sealed) != "a" && string(sealed) != "b") {
		t.Fatalf("after the first save: %q, version %d, %v", sealed, v, err)
	}

	if err := a.Save([]byte("second"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Save([]byte("stale"), 1); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("a save over a version another node replaced: %v, want ErrConflict", err)
	}
	sealed, v, err = b.Load()
	if err != nil || v != 2 || string(sealed) != "second" {
		t.Fatalf("after a stale save: %q, version %d, %v; want second, 2", sealed, v, err)
	}
	// The admin's empty value (consent to a new key store) reads back
	// empty, not as no key store.
	if err := b.Save(nil, 2); err != nil {
		t.Fatal(err)
	}
	if sealed, v, err := a.Load(); err != nil || sealed == nil || len(sealed) != 0 || v != 3 {
		t.Fatalf("an empty key store: %#v, version %d, %v", sealed, v, err)
	}
}
