package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"sigill/config"
)

const (
	sessionKeySize = 32 // AES-256
	tokenSize      = 16 // 128 random bits per link token
	messageIDSize  = 12 // 48-bit millisecond time ‖ 48 random bits

	// HKDF info strings: one purpose each, so no derived key is ever usable
	// for another purpose. v2: schema 2 (the key store).
	infoWrap   = "sigill vault v2: session key wrap"
	infoSeal   = "sigill vault v2: outbox token seal"
	infoEscrow = "sigill vault v2: escrow packet seal"
	infoSecret = "sigill vault v2: message expiry secret seal"
	infoStore  = "sigill vault v2: key store"
	infoCheck  = "sigill vault v2: key check"
)

// cipherSuite is what the message is encrypted with: an OpenPGP SEIPDv2
// packet (RFC 9580) with AES-256 in OCB mode. OCB is the mode every RFC 9580
// implementation must support, so an escrow export opens anywhere.
var cipherSuite = packet.CipherSuite{Cipher: packet.CipherAES256, Mode: packet.AEADModeOCB}

var (
	tokenEncoding = base64.RawURLEncoding.Strict()
	idEncoding    = base32.HexEncoding.WithPadding(base32.NoPadding) // keeps byte order, so ids sort by time
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vault: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return b
}

// newMessageID returns a short id that sorts by acceptance time: 48 bits of
// Unix milliseconds and 48 random bits, base32hex in lower case (20
// characters). It appears in "250 2.0.0 <id> queued" and in receipts.
func newMessageID(now time.Time) string {
	b := randomBytes(messageIDSize)
	ms := uint64(now.UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	return toLowerASCII(idEncoding.EncodeToString(b))
}

func toLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// newToken returns a fresh link token: its raw bytes and its URL form.
func newToken() ([]byte, string) {
	raw := randomBytes(tokenSize)
	return raw, tokenEncoding.EncodeToString(raw)
}

// parseToken decodes a token from a link; ok is false for anything that is
// not exactly the form newToken makes.
func parseToken(s string) ([]byte, bool) {
	if len(s) != tokenEncoding.EncodedLen(tokenSize) {
		return nil, false
	}
	raw, err := tokenEncoding.DecodeString(s)
	if err != nil || len(raw) != tokenSize {
		return nil, false
	}
	return raw, true
}

// tokenHash is the look-up key of a recipient: SHA-256 of the raw token.
func tokenHash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}

// context binds derived keys and sealed values to one recipient of one message.
func bindContext(purpose, id string, index int) []byte {
	return []byte(purpose + "\x00" + id + "\x00" + strconv.Itoa(index))
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// tokenKEK derives the key that wraps a message's session key for one
// recipient: HKDF-SHA256 over the message's expiry secret and the 128-bit
// token, salt = message id, info naming the purpose and the recipient. Both
// secrets are random, so no password KDF is needed (or wanted: Argon2 would
// cost ~200 ms and 64 MiB per look-up). Without the token nothing opens;
// without the expiry secret, sealed under the expiry key of the message's
// expiry period (expiry.go), no token opens it either. Messages accepted
// before the expiry secret have their period's expiry key itself there.
func tokenKEK(token, expirySecret []byte, id string, index int) (cipher.AEAD, error) {
	ikm := make([]byte, 0, len(expirySecret)+len(token))
	ikm = append(append(ikm, expirySecret...), token...)
	defer clear(ikm)
	k, err := hkdf.Key(sha256.New, ikm, []byte(id), string(bindContext(infoWrap, id, index)), 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	return newGCM(k)
}

// wrapSessionKey seals the session key with AES-256-GCM under tokenKEK:
// nonce ‖ ciphertext ‖ tag (60 bytes).
func wrapSessionKey(token, expirySecret []byte, id string, index int, sessionKey []byte) ([]byte, error) {
	aead, err := tokenKEK(token, expirySecret, id, index)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(aead.NonceSize())
	return aead.Seal(nonce, nonce, sessionKey, bindContext(infoWrap, id, index)), nil
}

func unwrapSessionKey(token, expirySecret []byte, id string, index int, wrapped []byte) ([]byte, error) {
	aead, err := tokenKEK(token, expirySecret, id, index)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("wrapped key too short")
	}
	n := aead.NonceSize()
	key, err := aead.Open(nil, wrapped[:n], wrapped[n:], bindContext(infoWrap, id, index))
	if err != nil {
		return nil, errors.New("wrapped key does not open")
	}
	return key, nil
}

// sealToken seals a link token for the outbox under an outbox key
// (AES-256-GCM under HKDF(key, info = infoSeal)), bound to its recipient.
func sealToken(k *outboxKey, token []byte, id string, index int) []byte {
	nonce := randomBytes(k.aead.NonceSize())
	return k.aead.Seal(nonce, nonce, token, bindContext(infoSeal, id, index))
}

func openToken(k *outboxKey, sealed []byte, id string, index int) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, errors.New("sealed token too short")
	}
	token, err := k.aead.Open(nil, sealed[:n], sealed[n:], bindContext(infoSeal, id, index))
	if err != nil {
		return nil, errors.New("sealed token does not open with its outbox key")
	}
	return token, nil
}

// sealEscrow seals a message's escrow packet under its expiry key, so that
// the escrow private key too opens nothing of a message past its period.
func sealEscrow(k *expiryKey, id string, pkesk []byte) []byte {
	return sealWith(k.escrow, infoEscrow, id, pkesk)
}

func openEscrow(k *expiryKey, id string, sealed []byte) ([]byte, error) {
	return openWith(k.escrow, infoEscrow, id, sealed, "sealed escrow packet")
}

// sealSecret seals a message's expiry secret under its expiry key.
func sealSecret(k *expiryKey, id string, secret []byte) []byte {
	return sealWith(k.secret, infoSecret, id, secret)
}

func openSecret(k *expiryKey, id string, sealed []byte) ([]byte, error) {
	return openWith(k.secret, infoSecret, id, sealed, "sealed expiry secret")
}

// sealWith seals a message's value (nonce ‖ ciphertext ‖ tag), bound to the
// purpose and the message.
func sealWith(aead cipher.AEAD, purpose, id string, plain []byte) []byte {
	return sealAt(aead, purpose, id, 0, plain)
}

func openWith(aead cipher.AEAD, purpose, id string, sealed []byte, what string) ([]byte, error) {
	return openAt(aead, purpose, id, 0, sealed, what)
}

// sealAt is sealWith for a value of one recipient, bound to its index too.
func sealAt(aead cipher.AEAD, purpose, id string, index int, plain []byte) []byte {
	nonce := randomBytes(aead.NonceSize())
	return aead.Seal(nonce, nonce, plain, bindContext(purpose, id, index))
}

func openAt(aead cipher.AEAD, purpose, id string, index int, sealed []byte, what string) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, errors.New(what + " too short")
	}
	p, err := aead.Open(nil, sealed[:n], sealed[n:], bindContext(purpose, id, index))
	if err != nil {
		return nil, errors.New(what + " does not open")
	}
	return p, nil
}

// aeadChunkSize is the OpenPGP AEAD chunk: go-crypto allocates and clears a
// buffer of this size per message, and its 256 KiB default was the largest
// avoidable CPU cost of intake in a profile of 2 KiB messages. 16 KiB costs
// a 16-byte tag per chunk on large messages and spares that work on small ones.
const aeadChunkSize = 1 << 14

// A message smaller than a chunk is sealed with the smallest chunk that
// holds it (with its literal packet's header), from minChunkSize up: the
// buffer go-crypto allocates and clears is a chunk, 16 KiB for every 2 KiB
// message otherwise (a tenth of all the bytes intake allocated per
// message). The chunk size is in the packet's header, so every reader
// takes whichever it finds; it tells no more of the size than the
// ciphertext's length does.
const minChunkSize = 1 << 10

// pgpConfigs holds a configuration per chunk size, minChunkSize to
// aeadChunkSize.
var pgpConfigs = func() map[uint64]*packet.Config {
	m := map[uint64]*packet.Config{}
	for size := uint64(minChunkSize); size <= aeadChunkSize; size *= 2 {
		m[size] = &packet.Config{AEADConfig: &packet.AEADConfig{DefaultMode: cipherSuite.Mode, ChunkSize: size}}
	}
	return m
}()

// pgpConfigFor is the configuration that seals n bytes of plaintext.
func pgpConfigFor(n int) *packet.Config {
	const literalHeader = 64 // the literal packet's header and partial lengths, with room
	size := uint64(minChunkSize)
	for size < aeadChunkSize && size < uint64(n+literalHeader) {
		size *= 2
	}
	return pgpConfigs[size]
}

// encryptMessage encrypts raw under sessionKey as one OpenPGP SEIPDv2 packet
// holding one binary literal data packet (no file name, no date). It uses
// go-crypto's packet API directly, so no password KDF runs.
func encryptMessage(raw, sessionKey []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := encryptMessageTo(&buf, raw, sessionKey); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encryptMessageTo is encryptMessage appending to buf.
func encryptMessageTo(buf *bytes.Buffer, raw, sessionKey []byte) error {
	if int64(len(raw)) > math.MaxUint32-literalHeaderSize {
		return fmt.Errorf("message of %d bytes is too long for one literal packet", len(raw))
	}
	buf.Grow(len(raw) + len(raw)/aeadChunkSize*16 + 128)
	enc, err := packet.SerializeSymmetricallyEncrypted(buf, cipherSuite.Cipher, true, cipherSuite, sessionKey, pgpConfigFor(len(raw)))
	if err != nil {
		return err
	}
	// The literal packet's header with its length, written here:
	// go-crypto's SerializeLiteral would write it with partial lengths,
	// through a writer that copies the whole body into a buffer of its
	// own first (half of the bytes a 64 KiB message's sealing allocated).
	// The encrypter under it copies each Write into its chunk buffer, so
	// the body goes in whole.
	if _, err := enc.Write(literalHeader(len(raw))); err != nil {
		return err
	}
	if _, err := enc.Write(raw); err != nil {
		return err
	}
	// Closing the encrypted packet writes the final authentication tag.
	return enc.Close()
}

// literalHeaderSize is literalHeader's longest: tag, 5 length bytes, then
// format, name length and date.
const literalHeaderSize = 1 + 5 + 6

// literalHeader is the header of a binary literal data packet (RFC 9580
// 5.9: format 'b', no file name, date 0) of n bytes, in the new packet
// format with a definite length (RFC 9580 4.2.1).
func literalHeader(n int) []byte {
	const tagLiteral = 11
	body := n + 6 // format, name length, date
	h := make([]byte, 0, literalHeaderSize)
	h = append(h, 0xc0|tagLiteral)
	switch {
	case body < 192:
		h = append(h, byte(body))
	case body < 8384:
		h = append(h, byte((body-192)>>8)+192, byte(body-192))
	default:
		h = append(h, 255)
		h = binary.BigEndian.AppendUint32(h, uint32(body))
	}
	return append(h, 'b', 0, 0, 0, 0, 0)
}

// decryptMessage reverses encryptMessage, checking every chunk's and the
// final authentication tag.
func decryptMessage(ct, sessionKey []byte) ([]byte, error) {
	p, err := packet.Read(bytes.NewReader(ct))
	if err != nil {
		return nil, fmt.Errorf("read encrypted packet: %w", err)
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || se.Version != 2 {
		return nil, fmt.Errorf("not a SEIPDv2 packet: %T", p)
	}
	rc, err := se.Decrypt(cipherSuite.Cipher, sessionKey)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	p, err = packet.Read(rc)
	if err != nil {
		return nil, fmt.Errorf("read literal packet: %w", err)
	}
	lit, ok := p.(*packet.LiteralData)
	if !ok {
		return nil, fmt.Errorf("not a literal data packet: %T", p)
	}
	raw, err := io.ReadAll(lit.Body)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	if n, err := io.Copy(io.Discard, rc); err != nil || n != 0 {
		return nil, fmt.Errorf("decrypt: trailing data after literal packet (%d bytes, %v)", n, err)
	}
	if err := rc.Close(); err != nil {
		return nil, fmt.Errorf("decrypt: final tag: %w", err)
	}
	return raw, nil
}

// parseEscrowKey reads the organisation's armored public key with
// config.ParseEscrowKey, the reading `sigill check-config` judges it by.
func parseEscrowKey(armored []byte, now time.Time) (*packet.PublicKey, error) {
	return config.ParseEscrowKey(armored, now)
}

// escrowPacket wraps the session key to the escrow key as an OpenPGP PKESK
// (v6, matching the SEIPDv2 packet). PKESK ‖ SEIPD is a complete OpenPGP
// message the escrow private key opens.
func escrowPacket(pub *packet.PublicKey, sessionKey []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&buf, pub, cipherSuite.Cipher, true, sessionKey, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func seqKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n)
}
