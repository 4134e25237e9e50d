// Package configtest gives tests a complete production configuration:
// sigill.example.toml with every file it names made in a temp dir. Tests only.
package configtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// root is the repository's top folder, found from this file's place.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Example writes sigill.example.toml into a temp dir with every
// /etc/sigill path moved there, and creates the files those keys name: a TLS
// pair and a BankID .p12 that end at notAfter, and the secret files. The
// 46elks username, empty in the example, is "elks-user".
func Example(t *testing.T, notAfter time.Time) (path string) {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(root(), "sigill.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, sub := range []string{"tls", "bankid", "secrets"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.ReplaceAll(string(example), "/etc/sigill/", dir+"/")
	text = strings.ReplaceAll(text, "/var/lib/sigill/", dir+"/")
	// The example leaves the 46elks username for each organisation to fill
	// in, and serve refuses to start without it.
	text = strings.Replace(text, "username = \"\"\npassword_file = \""+dir, "username = \"elks-user\"\npassword_file = \""+dir, 1)

	key, cert := WriteTLSPair(t, filepath.Join(dir, "tls/fullchain.pem"), filepath.Join(dir, "tls/privkey.pem"), "sigill.example.se", notAfter)
	p12, err := pkcs12.Modern.Encode(key, cert, nil, "qwerty123")
	if err != nil {
		t.Fatal(err)
	}
	Write(t, filepath.Join(dir, "bankid/rp.p12"), p12)
	Write(t, filepath.Join(dir, "secrets/bankid-p12-password"), []byte("qwerty123\n"))
	Write(t, filepath.Join(dir, "secrets/sms-password"), []byte("elks-secret\n"))

	path = filepath.Join(dir, "sigill.toml")
	Write(t, path, []byte(text))
	return path
}

// WriteTLSPair writes a self-signed certificate for name, valid for the year
// up to notAfter, and its key, as PEM files; it returns both.
func WriteTLSPair(t *testing.T, certFile, keyFile, name string, notAfter time.Time) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    notAfter.Add(-365 * 24 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	Write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	Write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return key, cert
}

// Write writes a file readable by its owner only.
func Write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
