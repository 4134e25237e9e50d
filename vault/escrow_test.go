package vault

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newEscrowEntity(t *testing.T, cfg *packet.Config) (*openpgp.Entity, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("Arkiv", "escrow", "arkiv@kommun.example.se", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, pub.Bytes()
}

func TestEscrow(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  *packet.Config
	}{
		{"curve25519 v4", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}},
		{"x25519 v6", &packet.Config{V6Keys: true, Algorithm: packet.PubKeyAlgoEd25519}},
		{"rsa 2048", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tc.cfg.Time = func() time.Time { return c.Now().Add(-time.Hour) }
			priv, pub := newEscrowEntity(t, tc.cfg)
			v, _ := openTest(t, func(o *Options) { o.EscrowKey = pub; o.Now = c.Now })
			raw := mime("Hemligt: "+randomHex(8), []byte("bilaga"))
			a := accept(t, v, incoming(raw))

			msg, err := v.EscrowMessage(a.ID)
			if err != nil {
				t.Fatal(err)
			}
			md, err := openpgp.ReadMessage(bytes.NewReader(msg), openpgp.EntityList{priv}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(md.UnverifiedBody)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatal("escrow export decrypts to other bytes than the original")
			}

			// Another private key opens nothing.
			other, _ := newEscrowEntity(t, tc.cfg)
			if md, err := openpgp.ReadMessage(bytes.NewReader(msg), openpgp.EntityList{other}, nil, nil); err == nil {
				if _, err := io.ReadAll(md.UnverifiedBody); err == nil {
					t.Fatal("a different private key decrypted the escrow export")
				}
			}

			// The escrow packet goes with the content at retention.
			c.Advance(DefaultRetention)
			if _, err := v.Sweep(); err != nil {
				t.Fatal(err)
			}
			if _, err := v.EscrowMessage(a.ID); !errors.Is(err, ErrExpired) {
				t.Fatalf("escrow export after retention: %v, want ErrExpired", err)
			}
		})
	}
}

func TestEscrowKeyRefused(t *testing.T) {
	priv, _ := newEscrowEntity(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	var secret bytes.Buffer
	w, _ := armor.Encode(&secret, openpgp.PrivateKeyType, nil)
	if err := priv.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for name, key := range map[string][]byte{
		"private key": secret.Bytes(),
		"garbage":     []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"),
	} {
		_, err := Open(Options{Path: t.TempDir() + "/v.db", EscrowKey: key})
		if err == nil || !strings.Contains(err.Error(), "escrow key") {
			t.Errorf("%s as escrow key: %v, want an escrow key error", name, err)
		}
	}
	// An expired key is refused too.
	_, pub := newEscrowEntity(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 3600})
	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := Open(Options{Path: t.TempDir() + "/v.db", EscrowKey: pub, Now: later}); err == nil {
		t.Error("an expired escrow key was taken")
	}
}

func TestNoEscrow(t *testing.T) {
	v, _ := openTest(t, nil)
	a := accept(t, v, incoming([]byte("Subject: x\r\n\r\nbody\r\n")))
	if _, err := v.EscrowMessage(a.ID); err == nil || errors.Is(err, ErrExpired) {
		t.Fatalf("escrow export without an escrow key: %v", err)
	}
	if _, err := v.EscrowMessage("nosuchid"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("escrow export of an unknown id: %v", err)
	}
}
