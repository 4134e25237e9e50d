package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"sigill/vault/kv"
)

// TestCanary stores a message with unique strings in its body and in an
// attachment, and shows that none of them, nor the token, is in the file,
// that the token decrypts exactly the original, and that nothing else does.
func TestCanary(t *testing.T) {
	boltOnly(t, "reads the bbolt file's pages")
	bodyCanary := "body-canary-" + randomHex(16)
	attachCanary := "attachment-canary-" + randomHex(16)
	attachment := append([]byte(attachCanary+"\n%PDF-1.7\n"), make([]byte, 300)...)
	rand.Read(attachment[len(attachCanary)+10:])
	raw := mime("Hej!\r\n\r\nBeslutet i ditt ärende: "+bodyCanary+"\r\n", attachment)
	if !bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(attachment)[:76])) {
		t.Fatal("test fault: attachment not base64 in the MIME")
	}

	v, o := openTest(t, nil)
	a := accept(t, v, incoming(raw, smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))

	// The token decrypts exactly the original bytes, for each recipient.
	for i, tok := range a.Tokens {
		l, got, err := v.Decrypt(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, raw) {
			t.Fatalf("recipient %d: decrypted bytes differ from the original", i)
		}
		if l.ID != a.ID || l.Recipient != i || l.Expired {
			t.Fatalf("recipient %d: letter %+v", i, l)
		}
	}
	// Wrong tokens: unknown, tampered, malformed.
	_, unknown := newToken()
	tampered := "A" + a.Tokens[0][1:]
	if a.Tokens[0][0] == 'A' {
		tampered = "B" + a.Tokens[0][1:]
	}
	for _, tok := range []string{unknown, tampered, "", "x", a.Tokens[0] + "A", strings.ToUpper(a.Tokens[0]), a.ID} {
		if tok == a.Tokens[0] || tok == a.Tokens[1] {
			continue
		}
		if _, _, err := v.Decrypt(tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("Decrypt(%q) = %v, want ErrNotFound", tok, err)
		}
		if st, _, err := v.Lookup(tok); st != LinkUnknown || err != nil {
			t.Errorf("Lookup(%q) = %v, %v, want unknown", tok, st, err)
		}
	}
	sessionKey := sessionKeyOf(t, v, a.Tokens[0])
	outboxKeyRaw := bytes.Clone(v.keys.current.raw)
	var expiryRaw [][]byte
	for _, k := range v.keys.expiry {
		expiryRaw = append(expiryRaw, bytes.Clone(k.raw))
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	keyFile, err := os.ReadFile(o.KeyFile)
	if err != nil {
		t.Fatal(err)
	}

	file, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"body canary":       []byte(bodyCanary),
		"attachment canary": []byte(attachCanary),
		"attachment bytes":  attachment[len(attachCanary)+10 : len(attachCanary)+10+32],
		"session key":       sessionKey,
		"key file":          keyFile,
	}
	enc := base64.StdEncoding.EncodeToString(attachment)
	for i := 0; i+76 <= len(enc); i += 76 {
		secrets["attachment base64 line"] = []byte(enc[i : i+76])
	}
	for i, tok := range a.Tokens {
		rawTok, _ := parseToken(tok)
		secrets["token "+string(rune('0'+i))] = []byte(tok)
		secrets["raw token "+string(rune('0'+i))] = rawTok
	}
	// The write-ahead log beside the file holds every commit's records too
	// (applied ones until the log's space is used again).
	log, err := os.ReadFile(o.Path + LogSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for what, s := range secrets {
		if bytes.Contains(file, s) {
			t.Errorf("the vault file holds the %s", what)
		}
		if bytes.Contains(log, s) {
			t.Errorf("the vault's log holds the %s", what)
		}
	}
	// Control: what is meant to be there is found by the same search.
	rawTok0, _ := parseToken(a.Tokens[0])
	for what, s := range map[string][]byte{"token hash": tokenHash(rawTok0), "message id": []byte(a.ID)} {
		if !bytes.Contains(file, s) {
			t.Errorf("control: the vault file does not hold the %s", what)
		}
		if !bytes.Contains(log, s) {
			t.Errorf("control: the vault's log does not hold the %s", what)
		}
	}

	// The vault file alone, as a thief would have it: a fresh key file does
	// not open it for the outbox…
	dir := t.TempDir()
	stolen := filepath.Join(dir, "stolen.db")
	if err := os.WriteFile(stolen, file, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Path: stolen, KeyFile: filepath.Join(dir, "fresh.key")})
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("open with a fresh key file: %v, want ErrKeyMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh.key")); err == nil {
		t.Error("a refused open left the key file it made")
	}
	// …and no bytes in the file are key material: every 16-byte window tried
	// as a token and every 32-byte window tried as a session key, a key
	// encryption key and the key file's key open nothing.
	m := readMaterial(t, stolen, o.KeyStore, expiryRaw)
	if len(m.wrapped) != 2 || len(m.packets) != 1 || len(m.sealed) != 2 {
		t.Fatalf("found %d wrapped keys, %d messages, %d sealed tokens; want 2, 1, 2", len(m.wrapped), len(m.packets), len(m.sealed))
	}
	start := time.Now()
	if found := m.scan(withDecoded(file)); len(found) > 0 {
		t.Errorf("the vault file alone opens: %v", found)
	}
	t.Logf("scanned %d bytes in %v", len(file), time.Since(start))

	// The scan can fail: plant each secret in noise and it is found.
	noise := make([]byte, 600)
	rand.Read(noise)
	rawTok, _ := parseToken(a.Tokens[1])
	copy(noise[77:], rawTok)
	copy(noise[201:], sessionKey)
	copy(noise[333:], `"x":"`+base64.StdEncoding.EncodeToString(outboxKeyRaw)+`"`)
	copy(noise[444:], keyFile)
	found := m.scan(withDecoded(noise))
	for _, want := range []string{"token opens wrapped key 1", "session key opens message 0", "outbox key opens sealed token 0", "outbox key opens sealed token 1", "key file opens the key store"} {
		if !strings.Contains(strings.Join(found, "; "), want) {
			t.Errorf("control: scan of planted secrets found %q, missing %q", found, want)
		}
	}
}

// sessionKeyOf unwraps a message's session key with a token, as Decrypt does.
func sessionKeyOf(t *testing.T, v *Vault, token string) []byte {
	t.Helper()
	raw, _ := parseToken(token)
	var key []byte
	err := v.view(func(tx kv.Tx) error {
		b, err := tx.Bucket(bRecipients).Get(tokenHash(raw))
		if err != nil {
			return err
		}
		var rr recipientRecord
		if err := json.Unmarshal(b, &rr); err != nil {
			return err
		}
		m, err := getMessage(tx, rr.Message)
		if err != nil {
			return err
		}
		secret, err := v.wrapSecret(m, rr.Index)
		if err != nil {
			return err
		}
		key, err = unwrapSessionKey(raw, secret, rr.Message, rr.Index, rr.Wrapped)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

type wrappedKey struct {
	id      string
	index   int
	wrapped []byte
}

type sealedToken struct {
	id     string
	index  int
	sealed []byte
}

// material is everything in a vault file that could hold a key: what a
// thief with the file alone has to work with, and the key store's expiry
// keys (as if the thief had it too), so that a token in the file would be
// found. keyStore is the sealed key store file, for the key file test.
type material struct {
	wrapped  []wrappedKey
	packets  [][]byte
	sealed   []sealedToken
	expiry   [][]byte
	keyStore []byte
}

func readMaterial(t *testing.T, path, keyStore string, expiry [][]byte) *material {
	t.Helper()
	ks, err := os.ReadFile(keyStore)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &material{keyStore: ks, expiry: expiry}
	err = db.View(func(tx *bolt.Tx) error {
		// A message's wrapped keys need its expiry secret, sealed under an
		// expiry key: with the expiry keys the thief has the secrets too.
		err := tx.Bucket([]byte(bParts)).ForEach(func(k, b []byte) error {
			switch _, part, _, ok := splitPart(k); {
			case ok && part == partContent:
				m.packets = append(m.packets, bytes.Clone(b))
				return nil
			case !ok || part != partMeta:
				return nil
			}
			var mr messageRecord
			if err := json.Unmarshal(b, &mr); err != nil {
				return err
			}
			// And each recipient's own secret, sealed under the same key,
			// follows the expiry secret.
			for _, e := range expiry {
				x, ok := gcmOpen(hkdfKey(e, nil, infoSecret), mr.ExpirySecret, bindContext(infoSecret, mr.ID, 0))
				if !ok {
					continue
				}
				m.expiry = append(m.expiry, x)
				for i, sealed := range mr.RecipientSecrets {
					if r, ok := gcmOpen(hkdfKey(e, nil, infoSecret), sealed, bindContext(infoRecipient, mr.ID, i)); ok {
						m.expiry = append(m.expiry, append(bytes.Clone(x), r...))
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket([]byte(bRecipients)).ForEach(func(_, b []byte) error {
			var rr recipientRecord
			if err := json.Unmarshal(b, &rr); err != nil {
				return err
			}
			m.wrapped = append(m.wrapped, wrappedKey{rr.Message, rr.Index, rr.Wrapped})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket([]byte(bOutbox)).ForEach(func(_, b []byte) error {
			var j jobRecord
			if err := json.Unmarshal(b, &j); err != nil {
				return err
			}
			m.sealed = append(m.sealed, sealedToken{j.MessageID, j.Recipient, j.SealedToken})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scan tries every window of buf that is not all zero bytes.
func (m *material) scan(buf []byte) []string {
	var found []string
	add := func(s string) {
		for _, f := range found {
			if f == s {
				return
			}
		}
		found = append(found, s)
	}
	// Only windows that touch a page holding a non-zero byte: the file is
	// mostly sparse zeros.
	const page = 4096
	zero := make([]byte, page+32)
	for o := 0; o+tokenSize <= len(buf); o++ {
		if o%page == 0 {
			end := min(o+page+32, len(buf))
			if bytes.Equal(buf[o:end], zero[:end-o]) {
				o += page - 1 // the loop adds one
				continue
			}
		}
		if isZero(buf[o : o+tokenSize]) {
			continue
		}
		// The attacker knows every algorithm and label; only the secret is
		// missing. Each window is tried as that secret, with the derivations
		// written out here rather than borrowed from the code under test.
		for _, size := range []int{tokenSize, 32} {
			if o+size > len(buf) {
				continue
			}
			w := buf[o : o+size]
			for _, k := range m.wrapped {
				ad := bindContext(infoWrap, k.id, k.index)
				for _, e := range m.expiry {
					if gcmOpens(hkdfKey(append(bytes.Clone(e), w...), []byte(k.id), string(ad)), k.wrapped, ad) {
						add(fmt.Sprintf("token opens wrapped key %d", k.index))
					}
				}
				if size == 32 && gcmOpens(w, k.wrapped, ad) {
					add(fmt.Sprintf("key encryption key opens wrapped key %d", k.index))
				}
			}
		}
		if o+32 > len(buf) {
			continue
		}
		w := buf[o : o+32]
		for i, p := range m.packets {
			if _, err := decryptMessage(p, w); err == nil {
				add(fmt.Sprintf("session key opens message %d", i))
			}
		}
		sealKey := hkdfKey(w, nil, infoSeal)
		for _, st := range m.sealed {
			ad := bindContext(infoSeal, st.id, st.index)
			if gcmOpens(sealKey, st.sealed, ad) {
				add(fmt.Sprintf("outbox key opens sealed token %d", st.index))
			}
			if gcmOpens(w, st.sealed, ad) {
				add(fmt.Sprintf("seal key opens sealed token %d", st.index))
			}
		}
		if head := len(keyStoreMagic) + 1; len(m.keyStore) > head+12 && gcmOpens(hkdfKey(w, nil, infoStore), m.keyStore[head:], m.keyStore[:head]) {
			add("key file opens the key store")
		}
	}
	return found
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func hkdfKey(secret, salt []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, salt, info, 32)
	if err != nil {
		panic(err)
	}
	return k
}

// gcmOpens reports whether AES-256-GCM under key opens nonce ‖ ciphertext.
func gcmOpens(key, sealed, ad []byte) bool {
	_, ok := gcmOpen(key, sealed, ad)
	return ok
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

// withDecoded returns buf followed by the decoding of every base64 run in
// it: JSON keeps []byte fields in base64, and key material hidden in one
// must be found too.
func withDecoded(buf []byte) []byte {
	out := bytes.Clone(buf)
	for _, run := range base64Run.FindAll(buf, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if dec, err := enc.DecodeString(string(run)); err == nil {
				out = append(out, make([]byte, 32)...)
				out = append(out, dec...)
				break
			}
		}
	}
	return out
}

// gcmOpen opens nonce ‖ ciphertext with AES-256-GCM under key.
func gcmOpen(key, sealed, ad []byte) ([]byte, bool) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, false
	}
	aead, err := cipher.NewGCM(block)
	if err != nil || len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, false
	}
	out, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
	return out, err == nil
}
