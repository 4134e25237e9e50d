package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// ExpiryWarning is how long before a certificate's end `sigill check-config`
// starts to warn: long enough to order a new BankID RP certificate.
const ExpiryWarning = 30 * 24 * time.Hour

// CheckCertificates opens every certificate the configuration names (the TLS
// chain and the BankID RP certificate), and returns faults for those that
// cannot be used and warnings for those that end within ExpiryWarning of now.
func (c *Config) CheckCertificates(now time.Time) (warnings []string, err error) {
	var f Faults
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
	if c.TLS.CertFile != "" && c.TLS.KeyFile != "" {
		pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			f.add("tls.cert_file", "cannot load the certificate with tls.key_file: %v", err)
		} else if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil {
			expiring("tls.cert_file", leaf)
		}
	}
	if (c.BankID.Environment == "production" || c.BankID.Environment == "test") && c.BankID.CertificateFile != "" {
		data, err := os.ReadFile(c.BankID.CertificateFile)
		if err == nil {
			var cert *x509.Certificate
			_, cert, _, err = pkcs12.DecodeChain(data, c.BankID.CertificatePassword)
			if err == nil {
				expiring("bankid.certificate_file", cert)
			}
		}
		if err != nil {
			f.add("bankid.certificate_file", "cannot open the PKCS#12 file with bankid.certificate_password_file: %v", err)
		}
	}
	return warnings, f.err()
}
