// Package certreload holds the daemon's TLS certificate in memory and swaps
// it for the files' new contents when told to (sigill serve does on
// SIGHUP). Every listener's tls.Config asks it for the certificate at each
// handshake, so a renewed certificate is used from the next connection on,
// while connections already open keep the one they were made with. A new
// pair that does not load, or is not valid at that moment, leaves the old one
// in use.
package certreload

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Pair is a certificate chain and its key, read from two PEM files.
type Pair struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// Load reads the pair for the first time; the error says which file failed.
// An expired certificate is loaded all the same (config's certificate check
// is where that is judged): a relaying MTA may still take it.
func Load(certFile, keyFile string) (*Pair, error) {
	p := &Pair{certFile: certFile, keyFile: keyFile}
	cert, err := p.read()
	if err != nil {
		return nil, err
	}
	p.current.Store(cert)
	return p, nil
}

// Reload reads the files again and, if they hold a pair that is valid now,
// serves it from the next handshake on, returning its leaf. Otherwise the
// pair in use stays, and the error says why the new one was refused.
func (p *Pair) Reload() (*x509.Certificate, error) {
	cert, err := p.read()
	if err == nil {
		err = p.validNow(cert.Leaf)
	}
	if err != nil {
		return nil, err
	}
	p.current.Store(cert)
	return cert.Leaf, nil
}

func (p *Pair) read() (*tls.Certificate, error) {
	// LoadX509KeyPair also parses the leaf and checks the key matches it.
	cert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s with %s: %w", p.certFile, p.keyFile, err)
	}
	return &cert, nil
}

// validNow refuses a certificate outside its validity: a renewal that has
// already expired, or is not valid yet, is a mistake to report, not to serve.
func (p *Pair) validNow(leaf *x509.Certificate) error {
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%s: certificate %q expired on %s", p.certFile, leaf.Subject.CommonName, leaf.NotAfter.Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%s: certificate %q is valid only from %s", p.certFile, leaf.Subject.CommonName, leaf.NotBefore.Format(time.RFC3339))
	}
	return nil
}

// Leaf is the certificate served now.
func (p *Pair) Leaf() *x509.Certificate { return p.current.Load().Leaf }

// GetCertificate is tls.Config.GetCertificate.
func (p *Pair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return p.current.Load(), nil
}

// TLSConfig is a server configuration that serves the pair (TLS 1.2 and up).
// Clones of it share the pair, and so see reloads.
func (p *Pair) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: p.GetCertificate, MinVersion: tls.VersionTLS12}
}
