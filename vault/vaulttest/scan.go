// Package vaulttest is the attacker's side of the vault's promises, for
// tests: Scan takes the bytes an attacker could hold — copies of the vault
// file and of its backups, the key file, the key store, link tokens kept
// from old notifications — and reports everything in them that opens a
// link token, a message key or a message.
//
// It reads the files as a thief would: every byte, free pages included,
// knowing the vault's formats and derivations (written out here again, not
// borrowed from the vault, so that a fault in the vault's own code cannot
// hide itself) and no secret but what it is given. It knows schema 1
// (tokens sealed under the key file's key, message keys wrapped under the
// token alone) as well as schema 2 (the key store: message keys wrapped
// under an expiry key and the token, or, since per-message expiry, under
// the message's expiry secret, sealed under an expiry key, and the token;
// replaced expiry keys not yet destroyed count too; since withdrawal,
// with each recipient's own secret, sealed under the same key, after the
// expiry secret), so that a test using it fails against the code before
// the key store.
package vaulttest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Files is what the attacker holds.
type Files struct {
	Vault    map[string][]byte  // vault files and backups by name: every byte is searched
	KeyFile  []byte             // the key file (32 bytes), or nil
	KeyStore []byte             // the key store file, or nil
	Tokens   []string           // link tokens kept from notifications (an old SMS), or nil
	Escrow   openpgp.EntityList // the organisation's escrow private keys, or nil
}

// Finding is one thing that opened.
type Finding struct {
	What      string // "sealed token", "clear token", "message key", "escrow message key" or "content"
	File      string // where it was found
	Message   string // the message it belongs to
	Recipient int
	Token     string // the token that opened it (or was found)
}

func (f Finding) String() string {
	return fmt.Sprintf("%s of message %s recipient %d in %s", f.What, f.Message, f.Recipient, f.File)
}

// Report is what Scan found: the findings, and how much material it found
// to try (so a test can tell a scan that found nothing to open from one
// that opened nothing).
type Report struct {
	Findings     []Finding
	SealedTokens int // sealed token records found in the files, opening or not
	WrappedKeys  int // wrapped message keys found
	Packets      int // encrypted message packets found
	OutboxKeys   int // outbox keys in the key store (opened with the key file)
	ExpiryKeys   int // expiry keys in the key store
}

// Of returns the findings that concern message id.
func (r Report) Of(id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Message == id {
			out = append(out, f)
		}
	}
	return out
}

// Has tells whether a finding of kind what concerns message id.
func (r Report) Has(id, what string) bool {
	for _, f := range r.Findings {
		if f.Message == id && f.What == what {
			return true
		}
	}
	return false
}

// The vault's labels, as an attacker who has read its source knows them.
const (
	v1Seal   = "sigill vault v1: outbox token seal"
	v1Wrap   = "sigill vault v1: session key wrap"
	v2Seal   = "sigill vault v2: outbox token seal"
	v2Wrap   = "sigill vault v2: session key wrap"
	v2Store  = "sigill vault v2: key store"
	v2Escrow = "sigill vault v2: escrow packet seal"
	v2Secret = "sigill vault v2: message expiry secret seal"
	v2Rcpt   = "sigill vault v2: recipient secret seal"
	tokenLen = 16
)

var (
	keyStoreMagic = []byte("sigill-keys\x00")

	reSealed  = regexp.MustCompile(`"sealed_token":"([A-Za-z0-9+/]+={0,2})"`)
	reWrapped = regexp.MustCompile(`"wrapped":"([A-Za-z0-9+/]+={0,2})"`)
	reMessage = regexp.MustCompile(`"message":"([0-9a-v]{20})"`)
	reEscrow  = regexp.MustCompile(`"escrow":"([A-Za-z0-9+/]+={0,2})"`)
	reSecret  = regexp.MustCompile(`"expiry_secret":"([A-Za-z0-9+/]+={0,2})"`)
	reID      = regexp.MustCompile(`\{"id":"([0-9a-v]{20})"`)
	reRcpts   = regexp.MustCompile(`"recipient_secrets":\[((?:null|"[A-Za-z0-9+/]+={0,2}")(?:,(?:null|"[A-Za-z0-9+/]+={0,2}"))*)\]`)
	reIndex   = regexp.MustCompile(`"(?:recipient|index)":([0-9]{1,4})[,}]`)
)

type fragment struct {
	file  string
	id    string
	index int
	blob  []byte
}

type keyMaterial struct {
	seal   [][]byte // AES-256-GCM keys that may seal tokens
	expiry [][]byte // expiry keys (schema 2)
}

// Scan tries everything in f and reports what opens.
func Scan(f Files) Report {
	var r Report
	km := keys(f, &r)
	var sealed, wrapped []fragment
	var packets []packetAt
	for name, b := range f.Vault {
		sealed = append(sealed, fragments(name, b, reSealed)...)
		wrapped = append(wrapped, fragments(name, b, reWrapped)...)
		packets = append(packets, findPackets(name, b)...)
	}
	sealed, wrapped = dedupe(sealed), dedupe(wrapped)
	// A message's expiry secret (schema 2 since per-message expiry), sealed
	// under an expiry key, stands in that key's place in its wrapping.
	secrets := map[string][][]byte{}
	for name, b := range f.Vault {
		for _, s := range recordFragments(name, b, reSecret) {
			for _, k := range km.expiry {
				if x, ok := gcmOpen(derive(k, v2Secret), s.blob, bind(v2Secret, s.id, 0)); ok {
					secrets[s.id] = append(secrets[s.id], x)
				}
			}
		}
	}
	// Each recipient's own secret (since withdrawal), sealed under an
	// expiry key too, follows the expiry secret in its wrapping.
	rcptSecrets := map[string][][]byte{} // message id ‖ 0 ‖ index → secrets
	for _, b := range f.Vault {
		for _, m := range reRcpts.FindAllSubmatchIndex(b, -1) {
			ids := reID.FindAllSubmatch(b[max(0, m[0]-4096):m[0]], -1)
			if len(ids) == 0 {
				continue
			}
			id := string(ids[len(ids)-1][1])
			for i, v := range bytes.Split(b[m[2]:m[3]], []byte(",")) {
				blob, err := base64.StdEncoding.DecodeString(string(bytes.Trim(v, `"`)))
				if err != nil || len(blob) == 0 {
					continue
				}
				for _, k := range km.expiry {
					if x, ok := gcmOpen(derive(k, v2Secret), blob, bind(v2Rcpt, id, i)); ok {
						at := id + "\x00" + strconv.Itoa(i)
						rcptSecrets[at] = append(rcptSecrets[at], x)
					}
				}
			}
		}
	}
	r.SealedTokens, r.WrappedKeys, r.Packets = len(sealed), len(wrapped), len(packets)

	type tokenOf struct {
		raw       []byte
		id        string // "" for a kept token: its message is not known
		index     int
		fromVault bool
	}
	var tokens []tokenOf
	seen := map[string]bool{}
	for _, s := range sealed {
		for _, k := range km.seal {
			for _, label := range []string{v1Seal, v2Seal} {
				tok, ok := gcmOpen(k, s.blob, bind(label, s.id, s.index))
				if !ok || len(tok) != tokenLen {
					continue
				}
				enc := base64.RawURLEncoding.EncodeToString(tok)
				r.Findings = append(r.Findings, Finding{What: "sealed token", File: s.file, Message: s.id, Recipient: s.index, Token: enc})
				if !seen[enc] {
					seen[enc] = true
					tokens = append(tokens, tokenOf{tok, s.id, s.index, true})
				}
			}
		}
	}
	for _, t := range f.Tokens {
		raw, err := base64.RawURLEncoding.DecodeString(t)
		if err == nil && len(raw) == tokenLen && !seen[t] {
			seen[t] = true
			tokens = append(tokens, tokenOf{raw: raw})
		}
	}
	// A token in clear anywhere in the files.
	for _, t := range tokens {
		enc := base64.RawURLEncoding.EncodeToString(t.raw)
		for name, b := range f.Vault {
			if bytes.Contains(b, t.raw) || bytes.Contains(b, []byte(enc)) {
				r.Findings = append(r.Findings, Finding{What: "clear token", File: name, Message: t.id, Recipient: t.index, Token: enc})
			}
		}
	}
	// Every token against every wrapped key, under every derivation.
	type keyOf struct {
		key   []byte
		id    string
		index int
		token string
	}
	var sessionKeys []keyOf
	for _, t := range tokens {
		enc := base64.RawURLEncoding.EncodeToString(t.raw)
		for _, w := range wrapped {
			if t.id != "" && (t.id != w.id || t.index != w.index) {
				continue
			}
			ikms := [][]byte{t.raw}
			prefixes := append(append([][]byte{}, km.expiry...), secrets[w.id]...)
			for _, es := range secrets[w.id] {
				for _, rs := range rcptSecrets[w.id+"\x00"+strconv.Itoa(w.index)] {
					prefixes = append(prefixes, append(append([]byte{}, es...), rs...))
				}
			}
			for _, e := range prefixes {
				ikms = append(ikms, append(append([]byte{}, e...), t.raw...))
			}
			for i, secret := range ikms {
				label := v1Wrap
				if i > 0 {
					label = v2Wrap
				}
				info := bind(label, w.id, w.index)
				kek, err := hkdf.Key(sha256.New, secret, []byte(w.id), string(info), 32)
				if err != nil {
					continue
				}
				if sk, ok := gcmOpen(kek, w.blob, info); ok {
					r.Findings = append(r.Findings, Finding{What: "message key", File: w.file, Message: w.id, Recipient: w.index, Token: enc})
					sessionKeys = append(sessionKeys, keyOf{sk, w.id, w.index, enc})
				}
			}
		}
	}
	// Escrow packets, with the organisation's private key.
	if len(f.Escrow) > 0 {
		for name, b := range f.Vault {
			for _, e := range escrowFragments(name, b) {
				candidates := [][]byte{e.blob}
				for _, k := range km.expiry {
					if p, ok := gcmOpen(derive(k, v2Escrow), e.blob, bind(v2Escrow, e.id, 0)); ok {
						candidates = append(candidates, p)
					}
				}
				for _, c := range candidates {
					if sk := openPKESK(c, f.Escrow); sk != nil {
						r.Findings = append(r.Findings, Finding{What: "escrow message key", File: name, Message: e.id})
						sessionKeys = append(sessionKeys, keyOf{sk, e.id, 0, ""})
					}
				}
			}
		}
	}
	// Every message key against every packet.
	opened := map[string]bool{}
	for _, sk := range sessionKeys {
		for _, p := range packets {
			if opened[sk.id+p.file+strconv.Itoa(p.at)] {
				continue
			}
			if decrypts(p.data, sk.key) {
				opened[sk.id+p.file+strconv.Itoa(p.at)] = true
				r.Findings = append(r.Findings, Finding{What: "content", File: p.file, Message: sk.id, Recipient: sk.index, Token: sk.token})
			}
		}
	}
	return r
}

// keys gathers every key the attacker can derive from the key file and
// open in the key store.
func keys(f Files, r *Report) keyMaterial {
	var km keyMaterial
	if len(f.KeyFile) != 32 {
		return km
	}
	km.seal = append(km.seal, derive(f.KeyFile, v1Seal))
	head := len(keyStoreMagic) + 1
	ks := f.KeyStore
	if len(ks) < head+12+16 || !bytes.Equal(ks[:len(keyStoreMagic)], keyStoreMagic) {
		return km
	}
	plain, ok := gcmOpen(derive(f.KeyFile, v2Store), ks[head:], ks[:head])
	if !ok {
		return km
	}
	var store struct {
		Outbox []struct {
			Key []byte `json:"key"`
		} `json:"outbox"`
		Expiry []struct {
			Key []byte `json:"key"`
		} `json:"expiry"`
		Retiring []struct {
			Key []byte `json:"key"`
		} `json:"retiring"`
	}
	if json.Unmarshal(plain, &store) != nil {
		return km
	}
	for _, o := range store.Outbox {
		km.seal = append(km.seal, derive(o.Key, v2Seal))
	}
	for _, e := range store.Expiry {
		km.expiry = append(km.expiry, e.Key)
	}
	for _, e := range store.Retiring { // replaced, not yet destroyed
		km.expiry = append(km.expiry, e.Key)
	}
	r.OutboxKeys, r.ExpiryKeys = len(store.Outbox), len(store.Expiry)
	return km
}

// fragments finds every base64 value re matches in b, with the message id
// and recipient index that precede it in its record (the nearest within the
// record's reach, so a record cut by a later write still counts).
func fragments(name string, b []byte, re *regexp.Regexp) []fragment {
	var out []fragment
	for _, m := range re.FindAllSubmatchIndex(b, -1) {
		blob, err := base64.StdEncoding.DecodeString(string(b[m[2]:m[3]]))
		if err != nil {
			continue
		}
		// The record's own fields come first after its opening
		// {"message":...; without one (cut by a later write) the nearest
		// fields before the value are taken.
		window := b[max(0, m[0]-1024):m[0]]
		first := false
		if at := bytes.LastIndex(window, []byte(`{"message":"`)); at >= 0 {
			window, first = window[at:], true
		}
		ids := reMessage.FindAllSubmatch(window, -1)
		idx := reIndex.FindAllSubmatch(window, -1)
		if len(ids) == 0 || len(idx) == 0 {
			continue
		}
		id, ix := ids[len(ids)-1][1], idx[len(idx)-1][1]
		if first {
			id, ix = ids[0][1], idx[0][1]
		}
		n, _ := strconv.Atoi(string(ix))
		out = append(out, fragment{name, string(id), n, blob})
	}
	return out
}

func dedupe(fs []fragment) []fragment {
	seen := map[string]bool{}
	var out []fragment
	for _, f := range fs {
		k := f.id + "\x00" + strconv.Itoa(f.index) + "\x00" + string(f.blob)
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}

// escrowFragments finds every escrow packet value in b with the id of the
// message record it is in.
func escrowFragments(name string, b []byte) []fragment { return recordFragments(name, b, reEscrow) }

// recordFragments finds every value re matches in b with the id of the
// message record it is in.
func recordFragments(name string, b []byte, re *regexp.Regexp) []fragment {
	var out []fragment
	for _, m := range re.FindAllSubmatchIndex(b, -1) {
		blob, err := base64.StdEncoding.DecodeString(string(b[m[2]:m[3]]))
		if err != nil {
			continue
		}
		ids := reID.FindAllSubmatch(b[max(0, m[0]-4096):m[0]], -1)
		if len(ids) == 0 {
			continue
		}
		out = append(out, fragment{name, string(ids[len(ids)-1][1]), 0, blob})
	}
	return dedupe(out)
}

// openPKESK returns the session key in an OpenPGP public-key encrypted
// session key packet that one of keys opens, or nil.
func openPKESK(b []byte, keys openpgp.EntityList) []byte {
	p, err := packet.Read(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	ek, ok := p.(*packet.EncryptedKey)
	if !ok {
		return nil
	}
	for _, e := range keys {
		privs := []*packet.PrivateKey{e.PrivateKey}
		for _, sk := range e.Subkeys {
			privs = append(privs, sk.PrivateKey)
		}
		for _, priv := range privs {
			if priv == nil {
				continue
			}
			if err := ek.Decrypt(priv, nil); err == nil && len(ek.Key) > 0 {
				return ek.Key
			}
		}
	}
	return nil
}

type packetAt struct {
	file string
	at   int
	data []byte
}

// findPackets finds every OpenPGP SEIPDv2 packet header (tag 18, new
// format, version 2, AES-256, OCB) in b.
func findPackets(name string, b []byte) []packetAt {
	var out []packetAt
	for at := 0; at < len(b); {
		i := bytes.IndexByte(b[at:], 0xd2)
		if i < 0 {
			break
		}
		p := at + i
		for _, lenOctets := range []int{1, 2, 5} {
			h := p + 1 + lenOctets
			if h+3 <= len(b) && b[h] == 2 && b[h+1] == 9 && b[h+2] == 2 {
				out = append(out, packetAt{name, p, b[p:]})
				break
			}
		}
		at = p + 1
	}
	return out
}

// decrypts reports whether key opens the SEIPDv2 packet at the start of
// data, every chunk's tag and the final one checked.
func decrypts(data, key []byte) bool {
	p, err := packet.Read(bytes.NewReader(data))
	if err != nil {
		return false
	}
	se, ok := p.(*packet.SymmetricallyEncrypted)
	if !ok || se.Version != 2 {
		return false
	}
	rc, err := se.Decrypt(packet.CipherAES256, key)
	if err != nil {
		return false
	}
	p, err = packet.Read(rc)
	if err != nil {
		return false
	}
	lit, ok := p.(*packet.LiteralData)
	if !ok {
		return false
	}
	if _, err := io.Copy(io.Discard, lit.Body); err != nil {
		return false
	}
	return rc.Close() == nil
}

func bind(label, id string, index int) []byte {
	return []byte(label + "\x00" + id + "\x00" + strconv.Itoa(index))
}

func derive(secret []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		panic(err)
	}
	return k
}

func gcmOpen(key, sealed, ad []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, false
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, sealed[:n], sealed[n:], ad)
	return out, err == nil
}
