package config

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"software.sslmate.com/src/go-pkcs12"
)

// ExpiryWarning is how long before a certificate's end `sigill check-config`
// starts to warn: long enough to order a new BankID RP certificate.
const ExpiryWarning = 30 * 24 * time.Hour

// LoadForServe is the one check `sigill serve` and `sigill check-config`
// share, so that check-config passes exactly the files serve starts with:
// Load's keys, values and secrets, then the contents of every file the
// configuration names (the TLS pair, the BankID RP certificate and its CA,
// the escrow key), with certificates judged at now. The error lists every
// fault at once. Warnings are what is sound today but needs an admin soon: a
// certificate near its end.
func LoadForServe(path string, now time.Time) (cfg *Config, warnings []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading configuration: %w", err)
	}
	cfg, faults, wellFormed := parse(data)
	if wellFormed {
		var fileFaults Faults
		warnings, fileFaults = cfg.checkFiles(now, faults)
		faults = append(faults, fileFaults...)
	}
	if len(faults) > 0 {
		return nil, warnings, fmt.Errorf("%s: %w", path, faults)
	}
	return cfg, warnings, nil
}

// CheckCertificates opens every certificate and key file the configuration
// names, and returns faults for those that cannot be used and warnings for
// those that end within ExpiryWarning of now.
func (c *Config) CheckCertificates(now time.Time) (warnings []string, err error) {
	warnings, f := c.checkFiles(now, nil)
	return warnings, f.err()
}

// checkFiles reads what the files the configuration names hold. A key that
// already has a fault (a file that is not there) is not judged twice.
func (c *Config) checkFiles(now time.Time, already Faults) (warnings []string, f Faults) {
	faulted := map[string]bool{}
	for _, a := range already {
		faulted[a.Key] = true
	}
	expiring := func(key string, cert *x509.Certificate) {
		left := cert.NotAfter.Sub(now)
		switch {
		case left <= 0:
			f.add(key, "certificate %q expired on %s", cert.Subject.CommonName, cert.NotAfter.Format(time.DateOnly))
		case left < ExpiryWarning:
			warnings = append(warnings, fmt.Sprintf("%s: certificate %q expires on %s, in %d days; renew it now",
				key, cert.Subject.CommonName, cert.NotAfter.Format(time.DateOnly), int(left.Hours()/24)))
		}
	}
	if c.TLS.CertFile != "" && c.TLS.KeyFile != "" && !faulted["tls.cert_file"] && !faulted["tls.key_file"] {
		pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			f.add("tls.cert_file", "cannot load the certificate with tls.key_file: %v", err)
		} else if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil {
			expiring("tls.cert_file", leaf)
		}
	}
	bankID := c.BankID.Environment == "production" || c.BankID.Environment == "test"
	if bankID && c.BankID.CertificateFile != "" && !faulted["bankid.certificate_file"] && !faulted["bankid.certificate_password_file"] {
		data, err := os.ReadFile(c.BankID.CertificateFile)
		var cert tls.Certificate
		if err == nil {
			cert, err = ParseP12(data, c.BankID.CertificatePassword)
		}
		if err != nil {
			f.add("bankid.certificate_file", "cannot open the PKCS#12 file with bankid.certificate_password_file: %v", err)
		} else {
			expiring("bankid.certificate_file", cert.Leaf)
		}
	}
	if bankID && c.BankID.CAFile != "" && !faulted["bankid.ca_file"] {
		if data, err := os.ReadFile(c.BankID.CAFile); err == nil && !x509.NewCertPool().AppendCertsFromPEM(data) {
			f.add("bankid.ca_file", "holds no PEM certificate; name the PEM root of BankID's server")
		}
	}
	if c.Vault.EscrowKey != "" && !faulted["vault.escrow_key"] {
		data, err := os.ReadFile(c.Vault.EscrowKey)
		if err == nil {
			_, err = ParseEscrowKey(data, now)
		}
		if err != nil {
			f.add("vault.escrow_key", "cannot be used as the escrow key: %v", err)
		}
	}
	return warnings, f
}

// ParseP12 reads an RP certificate from PKCS#12 data (BankID's .p12 files
// are AES-encrypted, which go-pkcs12 reads and x/crypto/pkcs12 does not).
// The returned certificate has Leaf set, so that its end can be warned of.
// The bankid package reads the RP certificate with it, so what check-config
// accepts is what the BankID client starts with.
func ParseP12(data []byte, password string) (tls.Certificate, error) {
	if len(data) == 0 {
		return tls.Certificate{}, errors.New("no RP certificate (PKCS#12) given")
	}
	key, leaf, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading RP certificate: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("RP certificate key is a %T, not a signing key", key)
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("RP certificate %q does not belong to the key in the same file", leaf.Subject.CommonName)
	}
	cert := tls.Certificate{PrivateKey: signer, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	return cert, nil
}

// ParseEscrowKey reads the organisation's armored public key (vault.escrow_key)
// and picks its encryption (sub)key valid at now. A key with secret parts is
// refused: the private key belongs off the server. The vault wraps session
// keys to what it returns, so check-config judges the file as the vault does.
func ParseEscrowKey(armored []byte, now time.Time) (*packet.PublicKey, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, err
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("want exactly one key, found %d", len(el))
	}
	e := el[0]
	if e.PrivateKey != nil {
		return nil, errors.New("it holds a private key; give the vault only the public key and keep the private key off the server")
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			return nil, errors.New("it holds a private subkey; give the vault only the public key")
		}
	}
	k, ok := e.EncryptionKey(now)
	if !ok {
		return nil, errors.New("no valid encryption key (expired or revoked?)")
	}
	return k.PublicKey, nil
}
