package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"sigill/config"
)

func runServe(args []string, _ io.Reader, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "/etc/sigill/sigill.toml", "the configuration file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: sigill serve [-config FILE]

Runs the gateway for production: TLS on every listener, AUTH only over TLS,
real BankID and real notification providers. Refuses to start on any
configuration fault and names the key. Logs are JSON on standard error.
SIGTERM lets open SMTP transactions finish, then stops.`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
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
	warnings, _ := cfg.CheckCertificates(time.Now())
	for _, w := range append(warnings, cfg.Warnings()...) {
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
