package certreload

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigill/config/configtest"
)

// echoServer answers each line with the same line over TLS from p, on
// 127.0.0.1, until the test ends.
func echoServer(t *testing.T, p *Pair) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", p.TLSConfig().Clone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) (*tls.Conn, *x509.Certificate) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.ConnectionState().PeerCertificates[0]
}

func echo(t *testing.T, c *tls.Conn, line string) {
	t.Helper()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("writing on an open connection: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo on an open connection: %q, %v", got, err)
	}
}

// A reload serves the new certificate to new connections; one opened before
// goes on; a pair that does not load, or has expired, leaves the one in use.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	year := time.Now().Add(365 * 24 * time.Hour)
	_, first := configtest.WriteTLSPair(t, certFile, keyFile, "first.example.se", year)
	p, err := Load(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, p)
	old, cert := dial(t, addr)
	if !cert.Equal(first) {
		t.Fatalf("served %q; want the first certificate", cert.Subject.CommonName)
	}

	_, second := configtest.WriteTLSPair(t, certFile, keyFile, "second.example.se", year)
	if leaf, err := p.Reload(); err != nil || !leaf.Equal(second) {
		t.Fatalf("Reload: %v, %v", leaf, err)
	}
	if _, cert := dial(t, addr); !cert.Equal(second) {
		t.Errorf("a new connection after Reload got %q; want the second certificate", cert.Subject.CommonName)
	}
	echo(t, old, "still here")

	for _, bad := range []struct {
		name, says string
		spoil      func()
	}{
		{"garbage", "failed to find any PEM data", func() { configtest.Write(t, certFile, []byte("not a certificate\n")) }},
		{"a key of another certificate", "private key does not match", func() {
			key, _ := os.ReadFile(keyFile)
			configtest.WriteTLSPair(t, certFile, keyFile, "third.example.se", year)
			configtest.Write(t, keyFile, key)
		}},
		{"expired", "expired on", func() {
			configtest.WriteTLSPair(t, certFile, keyFile, "old.example.se", time.Now().Add(-time.Hour))
		}},
	} {
		name := bad.name
		bad.spoil()
		leaf, err := p.Reload()
		if err == nil {
			t.Errorf("%s: Reload took %q", name, leaf.Subject.CommonName)
		} else if !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%s: the error does not name the file and say %q: %v", name, bad.says, err)
		}
		if _, cert := dial(t, addr); !cert.Equal(second) {
			t.Errorf("%s: after a refused Reload a new connection got %q; want the second certificate", name, cert.Subject.CommonName)
		}
		if !p.Leaf().Equal(second) {
			t.Errorf("%s: Leaf is %q", name, p.Leaf().Subject.CommonName)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.pem"), filepath.Join(dir, "key.pem"))
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
