package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"sigill/config"
	"sigill/internal/certreload"
)

func runServe(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("serve", `Usage: sigill serve [-config FILE]

Runs the gateway for production: TLS on every listener, AUTH only over TLS,
real BankID and real notification providers. Refuses to start on any
configuration fault, with the same faults 'sigill check-config' names.
Logs are JSON on standard error. SIGHUP reloads tls.cert_file and
tls.key_file for new connections (a pair that does not load is logged and
the old one kept). SIGTERM stops taking connections, lets open SMTP
transactions and IMAP commands finish (IMAP sessions get BYE), for up to
30 s, then stops.`, stdout, stderr)
	path := c.fs.String("config", "/etc/sigill/sigill.toml", "the configuration file")
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	cfg, warnings, err := config.LoadForServe(*path, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve: configuration refused:\n"+err.Error())
		return 1
	}
	pair, err := certreload.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve: tls.cert_file / tls.key_file:", err)
		return 1
	}
	tlsConfig := pair.TLSConfig()
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	// What check-config would warn of is worth a line in the log too: that
	// is where an admin sees a certificate about to run out.
	for _, w := range warnings {
		log.Warn("configuration", "warning", w)
	}
	sig := stopSignals()
	reloadOnHangup(pair, log)
	in, err := start(cfg, log, tlsConfig)
	if err != nil {
		fmt.Fprintln(stderr, "sigill serve:", err)
		return 1
	}
	return in.runUntilSignal(sig)
}

// reloadOnHangup reads the TLS pair again at each SIGHUP, for every listener's
// next handshake; open connections keep theirs. Called before the listeners
// open: SIGHUP's default is to end the process.
func reloadOnHangup(pair *certreload.Pair, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			leaf, err := pair.Reload()
			if err != nil {
				log.Error("SIGHUP: the new TLS certificate is refused; the old one stays in use", "err", err)
				continue
			}
			log.Info("SIGHUP: TLS certificate reloaded", "subject", leaf.Subject.CommonName,
				"serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter.Format(time.RFC3339))
			if left := time.Until(leaf.NotAfter); left < config.ExpiryWarning {
				log.Warn("configuration", "warning", fmt.Sprintf("tls.cert_file: the reloaded certificate expires in %d days", int(left.Hours()/24)))
			}
		}
	}()
}
