package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sigill/config"
)

func runServe(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("serve", `Usage: sigill serve [-config FILE]

Runs the gateway for production: TLS on every listener, AUTH only over TLS,
real BankID and real notification providers. Refuses to start on any
configuration fault, with the same faults 'sigill check-config' names.
Logs are JSON on standard error. SIGTERM lets open SMTP transactions
finish, then stops.`, stdout, stderr)
	path := c.fs.String("config", "/etc/sigill/sigill.toml", "the configuration file")
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	cfg, warnings, err := config.LoadForServe(*path, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve: configuration refused:\n"+err.Error())
		return 1
	}
	pair, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve: tls.cert_file / tls.key_file:", err)
		return 1
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	// What check-config would warn of is worth a line in the log too: that
	// is where an admin sees a certificate about to run out.
	for _, w := range warnings {
		log.Warn("configuration", "warning", w)
	}
	sig := stopSignals()
	in, err := start(cfg, log, tlsConfig)
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve:", err)
		return 1
	}
	return in.runUntilSignal(sig)
}
