package bankid

import (
	"crypto/sha256"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
)

// BankID's SSL roots, the CAs that issue the certificates of the RP API
// servers (appapi2.bankid.com and appapi2.test.bankid.com). They are not the
// roots of the users' certificates inside a signature; those belong to
// another hierarchy ("BankID Root CA v1") that this package does not need.
//
// Where they come from:
//
//   - roots/test.pem, "Test BankID SSL Root CA v1 Test" (O=Finansiell
//     ID-Teknik BID AB, OU=Infrastructure CA, valid 2014-11-21 to 2034-12-31):
//     BankID's own public sample code, github.com/BankID/SampleCode,
//     server/certificates/test/truststore.pem, which is the certificate
//     BankID publishes for the test environment at
//     https://developers.bankid.com/getting-started/environments.
//   - roots/production.pem, "BankID SSL Root CA v1" (same O and OU, valid
//     2011-12-07 to 2034-12-31): the certificate published for the
//     production environment on the same BankID page. The copy here was taken
//     from public integrations that reproduce that page; it is byte-identical
//     in several independent ones, and its fingerprint below matches the one
//     they pin.
//
// Both files verify as self-signed CAs. The SHA-256 fingerprints are pinned
// separately so that an edited PEM cannot slip in unnoticed: rootPool
// refuses a root whose fingerprint differs.
//
//go:embed roots/*.pem
var rootFiles embed.FS

type pinnedRoot struct {
	file        string
	commonName  string
	fingerprint string // SHA-256 of the DER, lowercase hex
}

var pinnedRoots = map[Environment]pinnedRoot{
	Test: {
		file:        "roots/test.pem",
		commonName:  "Test BankID SSL Root CA v1 Test",
		fingerprint: "f3d0740ebfb3700e3b81aa791fee451472698c84e199c2eb48a443ff1d5b405c",
	},
	Production: {
		file:        "roots/production.pem",
		commonName:  "BankID SSL Root CA v1",
		fingerprint: "e6a2d45c0a1051c959428649f86a09a9b2152cd551993cc2eb4cf094bdacbecb",
	},
}

// rootPool returns a pool holding only the pinned BankID SSL root of env.
// It fails, rather than falling back to the system pool, when the
// environment is unknown or its embedded root is missing or altered.
func rootPool(env Environment) (*x509.CertPool, error) {
	pin, ok := pinnedRoots[env]
	if !ok {
		return nil, fmt.Errorf("bankid: no pinned root for environment %q (want %q or %q)", env, Test, Production)
	}
	cert, err := pinnedRootCert(pin)
	if err != nil {
		return nil, fmt.Errorf("bankid: pinned root for %s: %w", env, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

func pinnedRootCert(pin pinnedRoot) (*x509.Certificate, error) {
	data, err := rootFiles.ReadFile(pin.file)
	if err != nil {
		return nil, fmt.Errorf("%s is not embedded: %w", pin.file, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", pin.file)
	}
	sum := sha256.Sum256(block.Bytes)
	if got := hex.EncodeToString(sum[:]); got != pin.fingerprint {
		return nil, fmt.Errorf("%s has SHA-256 %s, pinned is %s", pin.file, got, pin.fingerprint)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pin.file, err)
	}
	if cert.Subject.CommonName != pin.commonName || !cert.IsCA {
		return nil, fmt.Errorf("%s is %q, want the CA %q", pin.file, cert.Subject.CommonName, pin.commonName)
	}
	return cert, nil
}
