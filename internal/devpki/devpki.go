// Package devpki owns the throwaway PKI of development and tests: a CA made
// at every start, a server certificate for 127.0.0.1, ::1 and localhost
// signed by it, and a BankID RP client certificate as an encrypted PKCS#12
// file, as BankID would issue one. `sigill dev` takes the TLS of its SMTP,
// IMAP and reader listeners from it as well as both ends of the BankID
// simulator's mutual TLS; `sigill bankid-simulator` writes it to its -dir for
// a gateway and other loopback listeners in a test to use.
//
// Nothing here is trusted by anything but a client given CAPEM or CAPool,
// and nothing of it is secret beyond the run. It must never stand in for a
// production certificate.
package devpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// devValidity is how long the throwaway certificates live. `sigill dev` and
// `sigill bankid-simulator` make new ones at every start, so this only has
// to outlast one run; it is 90 days rather than 30 because a staging
// `sigill serve` checks the simulator's certificates with check-config,
// which warns 30 days (config.ExpiryWarning) before a certificate ends: a
// fresh one must not read "renew it now".
const devValidity = 90 * 24 * time.Hour

// PKI is one throwaway PKI: a CA, a server certificate for 127.0.0.1, ::1
// and localhost signed by it, and an RP client certificate as an encrypted
// PKCS#12 file.
type PKI struct {
	CA     *x509.Certificate
	CAPEM  []byte         // the CA certificate in PEM, for a client that must trust it
	CAPool *x509.CertPool // the CA alone

	Server tls.Certificate // for loopback listeners: the BankID simulator's RP API, dev SMTP and IMAP

	RP         *x509.Certificate // the RP client certificate
	RPP12      []byte            // RP key, certificate and CA as PKCS#12 (AES-256, PBKDF2)
	RPPassword string            // random

	// Dir is where the files were written: ca.pem, rp.p12,
	// rp.p12.password, server.pem and server.key (all but ca.pem and
	// server.pem mode 0600). Empty when New was given "".
	Dir string
}

// New makes a new CA and the certificates it signs. When dir is not
// empty it writes there (replacing older ones):
//
//	ca.pem            the CA certificate
//	rp.p12            the RP client certificate, key and CA (PKCS#12)
//	rp.p12.password   its password
//	server.pem        the server certificate for 127.0.0.1, ::1 and localhost, then the CA
//	server.key        its private key (PKCS#8 PEM, mode 0600)
//
// so that other tools (curl --cert-type P12) can talk to the simulator, and
// so that the same throwaway CA can also serve other loopback TLS listeners
// in tests: sigill serve's own, or a fake SMS provider, all trusted through
// ca.pem alone.
func New(dir string) (*PKI, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: %w", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "sigill dev BankID simulator CA", Organization: []string{"sigill dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(devValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	ca, err := signCert(caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: %w", err)
	}
	server, err := signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1", Organization: []string{"sigill dev"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(devValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	}, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}

	rpKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: %w", err)
	}
	rp, err := signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "sigill dev RP", Organization: []string{"sigill dev"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(devValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &rpKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dev PKI: %w", err)
	}
	password := hex.EncodeToString(secret)
	p12, err := pkcs12.Modern.Encode(rpKey, rp, []*x509.Certificate{ca}, password)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: encoding RP certificate: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p := &PKI{
		CA:         ca,
		CAPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		CAPool:     pool,
		Server:     tls.Certificate{Certificate: [][]byte{server.Raw, ca.Raw}, PrivateKey: serverKey, Leaf: server},
		RP:         rp,
		RPP12:      p12,
		RPPassword: password,
	}
	if dir != "" {
		if err := p.write(dir); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func signCert(tmpl, parent *x509.Certificate, pub, signer any) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("dev PKI: %w", err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("dev PKI: signing %q: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

func (p *PKI) write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dev PKI: %w", err)
	}
	serverKey, err := x509.MarshalPKCS8PrivateKey(p.Server.PrivateKey)
	if err != nil {
		return fmt.Errorf("dev PKI: server key: %w", err)
	}
	var chain []byte
	for _, der := range p.Server.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.pem", p.CAPEM, 0o644},
		{"rp.p12", p.RPP12, 0o600},
		{"rp.p12.password", []byte(p.RPPassword + "\n"), 0o600},
		{"server.pem", chain, 0o644},
		{"server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: serverKey}), 0o600},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		// Remove first: WriteFile keeps the mode of a file that exists.
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("dev PKI: %w", err)
		}
		if err := os.WriteFile(path, f.data, f.mode); err != nil {
			return fmt.Errorf("dev PKI: %w", err)
		}
	}
	p.Dir = dir
	return nil
}

// ServerTLSConfig is the TLS configuration of a listener that takes client
// certificates from this CA, as the BankID simulator's RP API does. It
// verifies a client certificate against the CA when one is given but does
// not demand one in the handshake, so that a request without one reaches
// the handler, which answers it in its protocol's words (BankID's 401
// unauthorized in JSON) rather than with a failed handshake. A certificate
// from any other CA fails the handshake.
func (p *PKI) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.Server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.CAPool,
		MinVersion:   tls.VersionTLS12,
	}
}
