package passkey_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"sigill/passkey"
	"sigill/passkey/passkeytest"
	"sigill/vault"
)

const (
	rpID   = "localhost"
	origin = "http://localhost:8090"
)

// newAuthenticator is a software security key for the test site.
func newAuthenticator(*testing.T) *passkeytest.Authenticator { return passkeytest.New(rpID, origin) }

// create and get are the authenticator's answers, a test's failure if it
// cannot make one.
func create(t *testing.T, a *passkeytest.Authenticator, options []byte) []byte {
	t.Helper()
	b, err := a.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func get(t *testing.T, a *passkeytest.Authenticator, options []byte) []byte {
	t.Helper()
	b, err := a.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(body []byte) *http.Request {
	return httptest.NewRequest(http.MethodPost, origin+"/", bytes.NewReader(body))
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func setup(t *testing.T) (*vault.Vault, *passkey.Service, *clock) {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{passkey.Hook()}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	for _, a := range []string{"anna@staff.test", "bo@staff.test"} {
		if err := v.AddAccount(a, "a long enough password"); err != nil {
			t.Fatal(err)
		}
	}
	s, err := passkey.New(v, rpID, "sigill", []string{origin})
	if err != nil {
		t.Fatal(err)
	}
	return v, s, c
}

func register(t *testing.T, s *passkey.Service, account string, a *passkeytest.Authenticator) passkey.Passkey {
	t.Helper()
	ctx := context.Background()
	opts, id, err := s.BeginRegistration(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.FinishRegistration(ctx, account, id, "Work laptop", post(create(t, a, opts)))
	if err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	return pk
}

func TestRegisterThenSignIn(t *testing.T) {
	_, s, _ := setup(t)
	ctx := context.Background()
	a := newAuthenticator(t)
	pk := register(t, s, "Anna@staff.test", a)
	if pk.ID != a.ID() || pk.Name != "Work laptop" {
		t.Fatalf("registered %+v", pk)
	}
	opts, id, err := s.BeginLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := s.FinishLogin(ctx, id, post(get(t, a, opts)))
	if err != nil {
		t.Fatalf("sign-in refused: %v", err)
	}
	if acct.Address != "anna@staff.test" {
		t.Fatalf("signed in as %q", acct.Address)
	}
	list, err := s.List(ctx, "anna@staff.test")
	if err != nil || len(list) != 1 || list[0].LastUsed.IsZero() {
		t.Fatalf("list = %+v, %v; want one passkey with its last use", list, err)
	}
	if has, _ := s.Has("bo@staff.test"); has {
		t.Fatal("bo holds anna's passkey")
	}
}

func TestCeremonyIsSpentByItsFirstFinish(t *testing.T) {
	_, s, _ := setup(t)
	ctx := context.Background()
	a := newAuthenticator(t)
	register(t, s, "anna@staff.test", a)
	opts, id, _ := s.BeginLogin(ctx)
	answer := get(t, a, opts)
	if _, err := s.FinishLogin(ctx, id, post(answer)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishLogin(ctx, id, post(answer)); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("replayed answer: %v, want ErrNoCeremony", err)
	}
	// A wrong answer spends the ceremony too: no second guess on it.
	opts, id, _ = s.BeginLogin(ctx)
	other := newAuthenticator(t)
	other.Handle = a.Handle
	if _, err := s.FinishLogin(ctx, id, post(get(t, other, opts))); !errors.Is(err, passkey.ErrRefused) {
		t.Fatalf("unregistered key: %v, want ErrRefused", err)
	}
	if _, err := s.FinishLogin(ctx, id, post(get(t, a, opts))); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("finish after a failed one: %v, want ErrNoCeremony", err)
	}
}

func TestRefusals(t *testing.T) {
	v, s, c := setup(t)
	ctx := context.Background()
	a := newAuthenticator(t)
	register(t, s, "anna@staff.test", a)

	t.Run("expired ceremony", func(t *testing.T) {
		opts, id, _ := s.BeginLogin(ctx)
		c.advance(6 * time.Minute)
		if _, err := s.FinishLogin(ctx, id, post(get(t, a, opts))); !errors.Is(err, passkey.ErrNoCeremony) {
			t.Fatalf("after six minutes: %v, want ErrNoCeremony", err)
		}
	})
	t.Run("other origin", func(t *testing.T) {
		opts, id, _ := s.BeginLogin(ctx)
		phish := *a
		phish.Origin = "http://localhost.evil.test"
		if _, err := s.FinishLogin(ctx, id, post(get(t, &phish, opts))); !errors.Is(err, passkey.ErrRefused) {
			t.Fatalf("answer made for another origin: %v, want ErrRefused", err)
		}
	})
	t.Run("another account's registration ceremony", func(t *testing.T) {
		opts, id, _ := s.BeginRegistration(ctx, "anna@staff.test")
		if _, err := s.FinishRegistration(ctx, "bo@staff.test", id, "x", post(create(t, newAuthenticator(t), opts))); !errors.Is(err, passkey.ErrNoCeremony) {
			t.Fatalf("bo finishing anna's ceremony: %v, want ErrNoCeremony", err)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		if err := v.SetDisabled("anna@staff.test", true); err != nil {
			t.Fatal(err)
		}
		defer v.SetDisabled("anna@staff.test", false)
		opts, id, _ := s.BeginLogin(ctx)
		if _, err := s.FinishLogin(ctx, id, post(get(t, a, opts))); !errors.Is(err, vault.ErrAccountDisabled) {
			t.Fatalf("disabled account: %v, want ErrAccountDisabled", err)
		}
	})
	t.Run("removed passkey", func(t *testing.T) {
		if err := s.Remove(ctx, "anna@staff.test", a.ID()); err != nil {
			t.Fatal(err)
		}
		opts, id, _ := s.BeginLogin(ctx)
		if _, err := s.FinishLogin(ctx, id, post(get(t, a, opts))); !errors.Is(err, passkey.ErrRefused) {
			t.Fatalf("removed passkey: %v, want ErrRefused", err)
		}
		if err := s.Remove(ctx, "anna@staff.test", a.ID()); !errors.Is(err, passkey.ErrNotFound) {
			t.Fatalf("removing twice: %v", err)
		}
	})
}

func TestRemoveAll(t *testing.T) {
	_, s, _ := setup(t)
	ctx := context.Background()
	register(t, s, "anna@staff.test", newAuthenticator(t))
	register(t, s, "anna@staff.test", newAuthenticator(t))
	b := newAuthenticator(t)
	register(t, s, "bo@staff.test", b)
	if err := s.RemoveAll(ctx, "anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List(ctx, "anna@staff.test"); len(list) != 0 {
		t.Fatalf("anna still holds %d passkeys", len(list))
	}
	if list, _ := s.List(ctx, "bo@staff.test"); len(list) != 1 {
		t.Fatalf("bo's passkey went with anna's: %d left", len(list))
	}
}

func TestResetSecondFactorRemovesPasskeysAndTOTP(t *testing.T) {
	v, s, _ := setup(t)
	ctx := context.Background()
	register(t, s, "anna@staff.test", newAuthenticator(t))
	register(t, s, "bo@staff.test", newAuthenticator(t))
	if _, err := v.EnrollTOTP("anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if err := passkey.ResetSecondFactor(v, "anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has("anna@staff.test"); has {
		t.Error("anna's passkey survived the reset")
	}
	if acct, _ := v.Account("anna@staff.test"); acct.TOTPPending || acct.SecondFactor != "" {
		t.Errorf("anna's TOTP survived the reset: %+v", acct)
	}
	if list, _ := s.List(ctx, "bo@staff.test"); len(list) != 1 {
		t.Errorf("bo's passkey went with anna's reset: %d left", len(list))
	}
	if err := passkey.ResetSecondFactor(v, "nobody@staff.test"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("reset of an unknown account: %v, want ErrNotFound", err)
	}
}

// An account removed and made anew under the same address is another
// person: the old one's passkey neither signs it in nor counts as its
// second factor.
func TestPasskeyDoesNotOpenAnAccountMadeAnew(t *testing.T) {
	v, s, c := setup(t)
	ctx := context.Background()
	a := newAuthenticator(t)
	register(t, s, "anna@staff.test", a)
	c.advance(time.Hour)
	if err := v.RemoveAccount("anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	if err := v.AddAccount("anna@staff.test", "another long password"); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has("anna@staff.test"); has {
		t.Error("the new anna holds the old anna's passkey")
	}
	opts, id, _ := s.BeginLogin(ctx)
	if _, err := s.FinishLogin(ctx, id, post(get(t, a, opts))); !errors.Is(err, passkey.ErrRefused) {
		t.Fatalf("the old passkey on the new account: %v, want ErrRefused", err)
	}
}

// The vault knows which accounts hold a passkey (vault.Account.Passkey,
// which makes mail clients log in with app passwords): set by the first
// registration, kept while one is left, cleared with the last one and by
// a reset.
func TestAccountRecordsItHoldsAPasskey(t *testing.T) {
	v, s, _ := setup(t)
	ctx := context.Background()
	holds := func(want bool, when string) {
		t.Helper()
		acct, err := v.Account("anna@staff.test")
		if err != nil {
			t.Fatal(err)
		}
		if acct.Passkey != want {
			t.Errorf("%s: Account.Passkey = %v, want %v", when, acct.Passkey, want)
		}
	}
	holds(false, "before any passkey")
	first := register(t, s, "anna@staff.test", newAuthenticator(t))
	holds(true, "after the first registration")
	register(t, s, "anna@staff.test", newAuthenticator(t))
	if err := s.Remove(ctx, "anna@staff.test", first.ID); err != nil {
		t.Fatal(err)
	}
	holds(true, "with one passkey left")
	if bo, _ := v.Account("bo@staff.test"); bo.Passkey {
		t.Error("bo holds a passkey he never registered")
	}
	if err := passkey.ResetSecondFactor(v, "anna@staff.test"); err != nil {
		t.Fatal(err)
	}
	holds(false, "after the reset")
	last := register(t, s, "anna@staff.test", newAuthenticator(t))
	if err := s.Remove(ctx, "anna@staff.test", last.ID); err != nil {
		t.Fatal(err)
	}
	holds(false, "after removing the last one")
}

// The ceremonies under way are bounded: a begin beyond MaxCeremonies is
// refused with ErrBusy, until one is spent or expires.
func TestCeremoniesAreBounded(t *testing.T) {
	_, s, c := setup(t)
	ctx := context.Background()
	s.MaxCeremonies = 3
	var first string
	for i := range 3 {
		_, id, err := s.BeginLogin(ctx)
		if err != nil {
			t.Fatalf("begin %d: %v", i+1, err)
		}
		if i == 0 {
			first = id
		}
	}
	if _, _, err := s.BeginLogin(ctx); !errors.Is(err, passkey.ErrBusy) {
		t.Fatalf("a fourth sign-in: %v, want ErrBusy", err)
	}
	if _, _, err := s.BeginRegistration(ctx, "anna@staff.test"); !errors.Is(err, passkey.ErrBusy) {
		t.Fatalf("a registration past the bound: %v, want ErrBusy", err)
	}
	if _, err := s.FinishLogin(ctx, first, post([]byte("{}"))); err == nil {
		t.Fatal("a junk answer signed in")
	}
	if _, _, err := s.BeginLogin(ctx); err != nil {
		t.Fatalf("a begin once one ceremony was spent: %v", err)
	}
	if _, _, err := s.BeginLogin(ctx); !errors.Is(err, passkey.ErrBusy) {
		t.Fatalf("past the bound again: %v, want ErrBusy", err)
	}
	c.advance(5 * time.Minute)
	for i := range 3 {
		if _, _, err := s.BeginLogin(ctx); err != nil {
			t.Fatalf("begin %d once the others expired: %v", i+1, err)
		}
	}
}
