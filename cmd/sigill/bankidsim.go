package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"sigill/bankid/bankidsim"
	"sigill/internal/devpki"
)

// runBankIDSimulator runs the BankID simulator as a process of its own, for
// a `sigill serve` in staging or an integration test: the RP API over mTLS
// on -listen, the simulated phone on -phone, and the throwaway PKI in -dir.
// The gateway reaches it through bankid.url with environment = "test".
func runBankIDSimulator(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("bankid-simulator", `Usage: sigill bankid-simulator [-dir DIR] [-listen ADDR] [-phone ADDR]

Runs the BankID simulator on its own, for a sigill serve in staging or a
test: BankID's RP API v6.0 over mutual TLS, with a new throwaway CA, RP
certificate (PKCS#12) and server certificate for 127.0.0.1 written to DIR at
every start. It prints the [bankid] lines to paste into sigill's
configuration (environment = "test", url, ca_file, and the certificate).

The phone approves orders as anyone: POST /dev/bankid/approve with
{"autoStartToken": "…", "personalNumber": "199908072391"}, or use the page
at /dev/bankid. Since it lets anyone sign in as anyone, both listeners must
be on loopback. DIR also gets server.pem and server.key: a TLS pair for
127.0.0.1 that ca.pem vouches for, for other listeners in a test.

Each start replaces every file in DIR with new ones (a new CA): restart
sigill serve after restarting the simulator.`, stdout, stderr)
	dirFlag := c.fs.String("dir", "./sigill-bankid-simulator", "where the throwaway CA, RP certificate and server pair are written")
	listen := c.fs.String("listen", "127.0.0.1:8081", "the RP API (https, mutual TLS); loopback only")
	phone := c.fs.String("phone", "127.0.0.1:8082", "the simulated phone: page and JSON at /dev/bankid (plain http); loopback only")
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	for _, a := range []struct{ flag, addr string }{{"-listen", *listen}, {"-phone", *phone}} {
		if err := loopbackOnly(a.addr); err != nil {
			fmt.Fprintf(stderr, "sigill bankid-simulator: %s %s: %v; the simulator lets anyone sign in as anyone, so it listens on loopback only (e.g. 127.0.0.1:8081)\n", a.flag, a.addr, err)
			return 2
		}
	}
	dir, err := filepath.Abs(*dirFlag)
	if err != nil {
		fmt.Fprintln(stderr, "sigill bankid-simulator: -dir:", err)
		return 1
	}
	if err := claimSimulatorDir(dir); err != nil {
		fmt.Fprintln(stderr, "sigill bankid-simulator: -dir:", err)
		return 1
	}
	pki, err := devpki.New(dir)
	if err != nil {
		fmt.Fprintln(stderr, "sigill bankid-simulator:", err)
		return 1
	}

	sig := stopSignals()
	apiLn, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "sigill bankid-simulator: -listen:", err)
		return 1
	}
	phoneLn, err := net.Listen("tcp", *phone)
	if err != nil {
		apiLn.Close()
		fmt.Fprintln(stderr, "sigill bankid-simulator: -phone:", err)
		return 1
	}
	sim := bankidsim.New()
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	api := logHTTPErrors(sim.Server(pki), log, "bankid simulator (RP API)")
	// As in sigill dev: another page open in the tester's browser must not
	// approve orders; scripts (no Origin, no Sec-Fetch-Site) may.
	phoneHandler := http.NewCrossOriginProtection().Handler(sim.PhoneHandler())
	phoneMux := http.NewServeMux()
	phoneMux.Handle("/dev/bankid", phoneHandler)
	phoneMux.Handle("/dev/bankid/", phoneHandler)
	phoneMux.Handle("GET /{$}", http.RedirectHandler("/dev/bankid", http.StatusSeeOther))
	phoneSrv := &http.Server{Handler: phoneMux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(log, "bankid simulator (phone)")}

	errs := make(chan error, 2)
	go func() { errs <- api.ServeTLS(apiLn, "", "") }()
	go func() { errs <- phoneSrv.Serve(phoneLn) }()

	apiURL := "https://" + apiLn.Addr().String() + "/rp/v6.0/"
	phoneURL := "http://" + phoneLn.Addr().String() + "/dev/bankid"
	fmt.Fprintf(stdout, `sigill bankid-simulator: BankID's RP API v6.0 at %s (mutual TLS)
Anyone may sign in as anyone here: for tests and staging only.

In sigill's configuration, these replace the lines of the same names in
its bankid table (keep its user_visible_text):

[bankid]
environment = "test"
url = %q
ca_file = %q
certificate_file = %q
certificate_password_file = %q

The phone: %s
  POST %s/approve  {"autoStartToken": "…", "personalNumber": "199908072391"}
A TLS pair for 127.0.0.1 that ca_file vouches for: %s, %s
`, apiURL, apiURL, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "rp.p12"), filepath.Join(dir, "rp.p12.password"),
		phoneURL, phoneURL, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))

	code := 0
	select {
	case <-sig:
	case err := <-errs:
		fmt.Fprintln(stderr, "sigill bankid-simulator:", err)
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api.Shutdown(ctx)
	phoneSrv.Shutdown(ctx)
	return code
}

// loopbackOnly accepts host:port where host is a loopback IP address or
// "localhost"; an empty host (every interface) is refused.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return errors.New("not a loopback address")
	}
	return nil
}

// simulatorMarker marks a folder as the simulator's own. Every start
// replaces rp.p12 and the rest in -dir, so a folder without it that holds
// anything is refused: -dir /etc/sigill/bankid would otherwise destroy the
// production RP certificate the example configuration names.
const simulatorMarker = ".sigill-bankid-simulator"

// claimSimulatorDir creates dir (0700) if need be and marks it, or refuses
// a folder that has files and no marker.
func claimSimulatorDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	marker := filepath.Join(dir, simulatorMarker)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s holds files and is not the simulator's (no %s in it); every start overwrites ca.pem, rp.p12 and the rest, so name an empty or new folder", dir, simulatorMarker)
	}
	return os.WriteFile(marker, []byte("This folder belongs to `sigill bankid-simulator`, which rewrites its files at every start.\n"), 0o600)
}
