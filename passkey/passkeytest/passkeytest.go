// Package passkeytest is a software authenticator for tests: one ES256
// credential, made and used as a platform authenticator would (attestation
// "none", user present and verified), so that tests of the passkey
// package and of the staff web run go-webauthn's real checks without a
// browser.
package passkeytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

var b64 = base64.RawURLEncoding

// Authenticator holds one credential for the site RPID, answering as if
// from Origin. Its fields may be changed to make wrong answers (another
// origin, another user handle).
type Authenticator struct {
	RPID   string
	Origin string
	// Handle is the user handle the site gave at registration, sent back
	// with every sign-in.
	Handle []byte

	key   *ecdsa.PrivateKey
	id    []byte
	count uint32
}

// New makes an authenticator with a new key for rpID, answering as origin.
func New(rpID, origin string) *Authenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Authenticator{RPID: rpID, Origin: origin, key: k, id: id}
}

// ID is the credential's id as the site shows it (base64url).
func (a *Authenticator) ID() string { return b64.EncodeToString(a.id) }

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]string{"type": typ, "challenge": challenge, "origin": a.Origin})
	return b
}

func (a *Authenticator) authData(attested bool) []byte {
	rp := sha256.Sum256([]byte(a.RPID))
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

// Create answers navigator.credentials.create(options), options being
// the JSON the site sent ({"publicKey": {...}}): the JSON a browser posts
// back.
func (a *Authenticator) Create(options []byte) ([]byte, error) {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: creation options: %w", err)
	}
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		return nil, fmt.Errorf("passkeytest: user handle: %w", err)
	}
	a.Handle = handle
	att, _ := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(true)})
	return json.Marshal(map[string]any{
		"id": a.ID(), "rawId": a.ID(), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
		},
	})
}

// Get answers navigator.credentials.get(options), options being the
// JSON the site sent: the JSON a browser posts back.
func (a *Authenticator) Get(options []byte) ([]byte, error) {
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		return nil, fmt.Errorf("passkeytest: request options: %w", err)
	}
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	ad := a.authData(false)
	sum := sha256.Sum256(cd)
	digest := sha256.Sum256(append(bytes.Clone(ad), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": a.ID(), "rawId": a.ID(), "type": "public-key",
		"response": map[string]string{
			"clientDataJSON":    b64.EncodeToString(cd),
			"authenticatorData": b64.EncodeToString(ad),
			"signature":         b64.EncodeToString(sig),
			"userHandle":        b64.EncodeToString(a.Handle),
		},
	})
}
