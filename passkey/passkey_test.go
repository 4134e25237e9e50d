package passkey_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"sigill/passkey"
	"sigill/vault"
)

const (
	rpID   = "localhost"
	origin = "http://localhost:8090"
)

var b64 = base64.RawURLEncoding

// authenticator is a software security key: one ES256 credential, made
// and used as a platform authenticator would (attestation "none", user
// present and verified), so the tests run go-webauthn's real checks.
type authenticator struct {
	key    *ecdsa.PrivateKey
	id     []byte
	handle []byte
	count  uint32
	origin string
}

func newAuthenticator(t *testing.T) *authenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &authenticator{key: k, id: id, origin: origin}
}

func (a *authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "challenge": challenge, "origin": a.origin})
	return b
}

func (a *authenticator) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(rpID))
	var out bytes.Buffer
	out.Write(rp[:])
	flags := byte(0x01 | 0x04) // user present, user verified
	if attested {
		flags |= 0x40
	}
	out.WriteByte(flags)
	a.count++
	binary.Write(&out, binary.BigEndian, a.count)
	if attested {
		out.Write(make([]byte, 16)) // AAGUID
		binary.Write(&out, binary.BigEndian, uint16(len(a.id)))
		out.Write(a.id)
		x := a.key.PublicKey.X.FillBytes(make([]byte, 32))
		y := a.key.PublicKey.Y.FillBytes(make([]byte, 32))
		cose, _ := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y})
		out.Write(cose)
	}
	return out.Bytes()
}

// create answers navigator.credentials.create(options).
func (a *authenticator) create(t *testing.T, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	a.handle, _ = b64.DecodeString(o.PublicKey.User.ID)
	att, _ := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(true)})
	body, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
		},
	})
	return body
}

// get answers navigator.credentials.get(options).
func (a *authenticator) get(t *testing.T, options []byte) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	ad := a.authData(false)
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(bytes.Clone(ad), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.id), "rawId": b64.EncodeToString(a.id), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.handle),
		},
	})
	return body
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

func register(t *testing.T, s *passkey.Service, account string, a *authenticator) passkey.Passkey {
	t.Helper()
	ctx := context.Background()
	opts, id, err := s.BeginRegistration(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := s.FinishRegistration(ctx, account, id, "Work laptop", post(a.create(t, opts)))
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
	if pk.ID != b64.EncodeToString(a.id) || pk.Name != "Work laptop" {
		t.Fatalf("registered %+v", pk)
	}
	opts, id, err := s.BeginLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := s.FinishLogin(ctx, id, post(a.get(t, opts)))
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
	answer := a.get(t, opts)
	if _, err := s.FinishLogin(ctx, id, post(answer)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishLogin(ctx, id, post(answer)); !errors.Is(err, passkey.ErrNoCeremony) {
		t.Fatalf("replayed answer: %v, want ErrNoCeremony", err)
	}
	// A wrong answer spends the ceremony too: no second guess on it.
	opts, id, _ = s.BeginLogin(ctx)
	other := newAuthenticator(t)
	other.handle = a.handle
	if _, err := s.FinishLogin(ctx, id, post(other.get(t, opts))); !errors.Is(err, passkey.ErrRefused) {
		t.Fatalf("unregistered key: %v, want ErrRefused", err)
	}
	if _, err := s.FinishLogin(ctx, id, post(a.get(t, opts))); !errors.Is(err, passkey.ErrNoCeremony) {
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
		if _, err := s.FinishLogin(ctx, id, post(a.get(t, opts))); !errors.Is(err, passkey.ErrNoCeremony) {
			t.Fatalf("after six minutes: %v, want ErrNoCeremony", err)
		}
	})
	t.Run("other origin", func(t *testing.T) {
		opts, id, _ := s.BeginLogin(ctx)
		phish := *a
		phish.origin = "http://localhost.evil.test"
		if _, err := s.FinishLogin(ctx, id, post(phish.get(t, opts))); !errors.Is(err, passkey.ErrRefused) {
			t.Fatalf("answer made for another origin: %v, want ErrRefused", err)
		}
	})
	t.Run("another account's registration ceremony", func(t *testing.T) {
		opts, id, _ := s.BeginRegistration(ctx, "anna@staff.test")
		if _, err := s.FinishRegistration(ctx, "bo@staff.test", id, "x", post(newAuthenticator(t).create(t, opts))); !errors.Is(err, passkey.ErrNoCeremony) {
			t.Fatalf("bo finishing anna's ceremony: %v, want ErrNoCeremony", err)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		if err := v.SetDisabled("anna@staff.test", true); err != nil {
			t.Fatal(err)
		}
		defer v.SetDisabled("anna@staff.test", false)
		opts, id, _ := s.BeginLogin(ctx)
		if _, err := s.FinishLogin(ctx, id, post(a.get(t, opts))); !errors.Is(err, vault.ErrAccountDisabled) {
			t.Fatalf("disabled account: %v, want ErrAccountDisabled", err)
		}
	})
	t.Run("removed passkey", func(t *testing.T) {
		if err := s.Remove(ctx, "anna@staff.test", b64.EncodeToString(a.id)); err != nil {
			t.Fatal(err)
		}
		opts, id, _ := s.BeginLogin(ctx)
		if _, err := s.FinishLogin(ctx, id, post(a.get(t, opts))); !errors.Is(err, passkey.ErrRefused) {
			t.Fatalf("removed passkey: %v, want ErrRefused", err)
		}
		if err := s.Remove(ctx, "anna@staff.test", b64.EncodeToString(a.id)); !errors.Is(err, passkey.ErrNotFound) {
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
