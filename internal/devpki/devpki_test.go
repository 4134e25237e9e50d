package devpki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

func TestNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bankid")
	pki, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pki.Dir != dir {
		t.Errorf("Dir = %q", pki.Dir)
	}
	for name, mode := range map[string]os.FileMode{"ca.pem": 0o644, "rp.p12": 0o600, "rp.p12.password": 0o600, "server.pem": 0o644, "server.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	p12, _ := os.ReadFile(filepath.Join(dir, "rp.p12"))
	password, _ := os.ReadFile(filepath.Join(dir, "rp.p12.password"))
	_, leaf, chain, err := pkcs12.DecodeChain(p12, string(password[:len(password)-1]))
	if err != nil {
		t.Fatalf("rp.p12 does not decode with its password: %v", err)
	}
	if !leaf.Equal(pki.RP) || len(chain) != 1 || !chain[0].Equal(pki.CA) {
		t.Errorf("rp.p12 holds %v and %d chain certificates", leaf.Subject, len(chain))
	}
	if _, _, _, err := pkcs12.DecodeChain(p12, "wrong"); err == nil {
		t.Error("rp.p12 decodes with a wrong password")
	}

	now := time.Now()
	if _, err := pki.Server.Leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: pki.CAPool, CurrentTime: now}); err != nil {
		t.Errorf("server certificate for 127.0.0.1: %v", err)
	}
	if _, err := pki.Server.Leaf.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: pki.CAPool, CurrentTime: now}); err != nil {
		t.Errorf("server certificate for localhost: %v", err)
	}
	if _, err := pki.RP.Verify(x509.VerifyOptions{Roots: pki.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("RP certificate as a client: %v", err)
	}

	// server.pem and server.key are the simulator's own pair, chain first,
	// for other loopback TLS listeners that trust ca.pem.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatalf("server.pem with server.key: %v", err)
	}
	if len(pair.Certificate) != 2 || !bytes.Equal(pair.Certificate[0], pki.Server.Leaf.Raw) || !bytes.Equal(pair.Certificate[1], pki.CA.Raw) {
		t.Errorf("server.pem holds %d certificates, want the server's then the CA", len(pair.Certificate))
	}
	if key, _ := os.ReadFile(filepath.Join(dir, "server.key")); !bytes.HasPrefix(key, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("server.key is not PKCS#8 PEM: %.40q", key)
	}

	// A second PKI is a new one, and overwrites the files.
	again, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.CA.Equal(pki.CA) {
		t.Error("the CA was reused")
	}
	if ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); string(ca) != string(again.CAPEM) {
		t.Error("ca.pem was not replaced")
	}
	tlsConf := again.ServerTLSConfig()
	if tlsConf.ClientCAs == nil || tlsConf.ClientAuth.String() != "VerifyClientCertIfGiven" {
		t.Errorf("server TLS config: %v", tlsConf.ClientAuth)
	}
}
