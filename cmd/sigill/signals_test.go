package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/config/configtest"
	"sigill/internal/testenv"
)

// serveFixture is sigill serve from sigill.example.toml (serveConfig), the
// SMS API at a fake 46elks, started and stopped as systemd would.
type serveFixture struct {
	path   string            // the configuration
	ports  map[string]string // the example's listen address → the test's
	caFile string            // the fake 46elks's certificate
	cmd    *exec.Cmd
	log    *testenv.SyncBuffer // serve's stderr, all runs; written by exec's copier while the test reads it
}

func newServeFixture(t *testing.T) *serveFixture {
	t.Helper()
	elksServer := httptest.NewTLSServer(&fakeElks{})
	t.Cleanup(elksServer.Close)
	f := &serveFixture{log: &testenv.SyncBuffer{}}
	f.path, f.ports = serveConfig(t, func(dir string, ports map[string]string) map[string]string {
		return map[string]string{
			`url = "https://api.46elks.com/a1/sms"`: `url = "` + elksServer.URL + `/a1/sms"`,
			`link_base = "https://read.example.se"`: `link_base = "https://` + ports["0.0.0.0:443"] + `"`,
		}
	})
	f.caFile = filepath.Join(filepath.Dir(f.path), "elks-ca.pem")
	configtest.Write(t, f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: elksServer.Certificate().Raw}))
	return f
}

// start starts serve and waits for its submission port.
func (f *serveFixture) start(t *testing.T) {
	t.Helper()
	f.cmd = exec.Command(sigillBin, "serve", "-config", f.path)
	f.cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+f.caFile)
	f.cmd.Stderr = f.log
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := f.cmd
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitPort(t, f.ports["0.0.0.0:587"], f.log)
}

// stop sends SIGTERM and wants a clean exit.
func (f *serveFixture) stop(t *testing.T) {
	t.Helper()
	f.cmd.Process.Signal(syscall.SIGTERM)
	f.wait(t)
}

// wait wants serve to exit cleanly (SIGQUIT's stack dump after 40 s).
func (f *serveFixture) wait(t *testing.T) {
	t.Helper()
	timer := time.AfterFunc(40*time.Second, func() { f.cmd.Process.Signal(syscall.SIGQUIT) })
	defer timer.Stop()
	if err := f.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, f.log.String())
	}
}

// addStaff makes the vault (a first start) and adds a staff account; it
// returns an app password for it (the example requires one).
func (f *serveFixture) addStaff(t *testing.T, address, password string) string {
	t.Helper()
	f.start(t)
	f.stop(t)
	if _, stderr, code := run(t, password+"\n", "user", "-config", f.path, "add", address); code != 0 {
		t.Fatalf("user add: %s", stderr)
	}
	return createAppPassword(t, "-config", f.path, address)
}

var insecure = &tls.Config{InsecureSkipVerify: true} // the tests' self-signed certificates

// waitLog waits until serve's log holds want: the sign a signal was handled.
func (f *serveFixture) waitLog(t *testing.T, want string, times int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); strings.Count(f.log.String(), want) < times; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve never logged %q; the log:\n%s", want, f.log.String())
		}
	}
}

// servedCertificates is the certificate each TLS service shows a new
// connection, by the example's listen address.
func (f *serveFixture) servedCertificates(t *testing.T) map[string]*x509.Certificate {
	t.Helper()
	certs := map[string]*x509.Certificate{}
	for _, listen := range []string{"0.0.0.0:465", "0.0.0.0:443", "0.0.0.0:993"} {
		c, err := tls.Dial("tcp", f.ports[listen], insecure)
		if err != nil {
			t.Fatalf("%s: %v", listen, err)
		}
		certs[listen] = c.ConnectionState().PeerCertificates[0]
		c.Close()
	}
	for _, listen := range []string{"0.0.0.0:587", "0.0.0.0:25"} {
		c, err := smtp.DialStartTLS(f.ports[listen], insecure)
		if err == nil {
			err = c.Noop() // go-smtp's EHLO after STARTTLS, and so the handshake, waits for a command
		}
		if err != nil {
			t.Fatalf("%s: %v", listen, err)
		}
		state, _ := c.TLSConnectionState()
		certs[listen] = state.PeerCertificates[0]
		c.Close()
	}
	return certs
}

// SIGHUP: every TLS listener shows the renewed certificate to new
// connections, an SMTP session opened before goes on to send its message,
// and a broken renewal is refused with the reason while the good one stays.
func TestServeReloadsCertificatesOnHangup(t *testing.T) {
	f := newServeFixture(t)
	const staff = "anna@example.se"
	password := f.addStaff(t, staff, "a long staff password")
	f.start(t)
	defer f.stop(t)

	open, err := smtp.DialStartTLS(f.ports["0.0.0.0:587"], insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.Auth(sasl.NewLoginClient(staff, password)); err != nil {
		t.Fatal(err)
	}
	state, _ := open.TLSConnectionState()
	first := state.PeerCertificates[0]
	for listen, cert := range f.servedCertificates(t) {
		if !cert.Equal(first) {
			t.Fatalf("%s serves %q before the renewal; submission %q", listen, cert.Subject.CommonName, first.Subject.CommonName)
		}
	}

	dir := filepath.Dir(f.path)
	certFile, keyFile := filepath.Join(dir, "tls/fullchain.pem"), filepath.Join(dir, "tls/privkey.pem")
	_, renewed := configtest.WriteTLSPair(t, certFile, keyFile, "renewed.example.se", time.Now().Add(300*24*time.Hour))
	f.cmd.Process.Signal(syscall.SIGHUP)
	f.waitLog(t, "TLS certificate reloaded", 1)
	for listen, cert := range f.servedCertificates(t) {
		if !cert.Equal(renewed) {
			t.Errorf("%s serves %q after SIGHUP; want the renewed certificate", listen, cert.Subject.CommonName)
		}
	}
	rcpt := "0701234567&login=199908072391&@secure.example.se"
	if _, err := transact(open, staff, rcpt, "Subject: Provsvar\r\n\r\nHej!\r\n"); err != nil {
		t.Errorf("the SMTP session opened before SIGHUP: %v", err)
	}
	if err := open.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}

	configtest.Write(t, certFile, []byte("-----BEGIN CERTIFICATE-----\ntruncated by a failed copy\n"))
	f.cmd.Process.Signal(syscall.SIGHUP)
	f.waitLog(t, "the new TLS certificate is refused", 1)
	if !strings.Contains(f.log.String(), certFile) {
		t.Errorf("the refusal does not name %s:\n%s", certFile, f.log.String())
	}
	for listen, cert := range f.servedCertificates(t) {
		if !cert.Equal(renewed) {
			t.Errorf("%s serves %q after a refused renewal; want the renewed certificate still", listen, cert.Subject.CommonName)
		}
	}
}

// SIGTERM: an IMAP client in IDLE gets an untagged BYE and a clean close
// (TLS close_notify, then FIN), and serve exits 0.
func TestServeSaysByeToIMAPOnStop(t *testing.T) {
	f := newServeFixture(t)
	const staff = "anna@example.se"
	password := f.addStaff(t, staff, "a long staff password")
	f.start(t)

	conn, err := tls.Dial("tcp", f.ports["0.0.0.0:993"], insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second)) // a bound for a BYE that never comes
	r := bufio.NewReader(conn)
	line := func() string {
		t.Helper()
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading IMAP: %v", err)
		}
		return strings.TrimRight(s, "\r\n")
	}
	until := func(tag string) string {
		t.Helper()
		for {
			if s := line(); strings.HasPrefix(s, tag+" ") {
				return s
			}
		}
	}
	line() // greeting
	io.WriteString(conn, "a1 LOGIN "+staff+` "`+password+"\"\r\n")
	if s := until("a1"); !strings.HasPrefix(s, "a1 OK") {
		t.Fatalf("LOGIN: %s", s)
	}
	io.WriteString(conn, "a2 SELECT INBOX\r\n")
	until("a2")
	io.WriteString(conn, "a3 IDLE\r\n")
	if s := line(); !strings.HasPrefix(s, "+ ") {
		t.Fatalf("IDLE: %q", s)
	}

	before := len(f.log.String())
	f.cmd.Process.Signal(syscall.SIGTERM)
	if s := line(); !strings.HasPrefix(s, "* BYE ") {
		t.Errorf("in IDLE at SIGTERM: %q; want * BYE", s)
	}
	if rest, err := io.ReadAll(r); err != nil || len(rest) > 0 {
		t.Errorf("after BYE: %q, %v; want a clean close", rest, err)
	}
	f.wait(t)
	if stop := f.log.String()[before:]; strings.Contains(stop, `"level":"WARN"`) || strings.Contains(stop, `"level":"ERROR"`) {
		t.Errorf("the stop logged a fault:\n%s", stop)
	}
	// A client that logs in again after the restart finds its mailbox.
	f.start(t)
	defer f.stop(t)
	c, err := imapclient.DialTLS(f.ports["0.0.0.0:993"], &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(staff, password).Wait(); err != nil {
		t.Fatalf("LOGIN after the restart: %v", err)
	}
}
