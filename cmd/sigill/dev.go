package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"sigill/config"
	"sigill/vault"
)

func runDev(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("dev", `Usage: sigill dev [-data DIR] [-listen-offset N] [-key-file FILE] [-store URL]

Runs the whole gateway on 127.0.0.1 with built-in defaults and no
configuration file: gateway domain secure.test, a staff account
dev@staff.test, an administrator (password from SIGILL_DEV_PASSWORD,
else generated and printed), plain-text AUTH allowed because nothing
leaves loopback.`, stdout, stderr)
	dataDir := c.fs.String("data", "./sigill-data", "data folder, kept between runs")
	offset := c.fs.Int("listen-offset", 0, "add this to every port, to run instances side by side")
	keyFile := c.fs.String("key-file", "", "the key file sealing the key store (default: in the data folder); the same file for every node sharing a store")
	store := c.fs.String("store", "", "a PostgreSQL database (postgres://user@host/db) for the vault's records instead of the data folder's bbolt file; nodes sharing one form a pair")
	if code, done := c.parseFlagsOnly(args); done {
		return code
	}
	dir, err := filepath.Abs(*dataDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		fmt.Fprintln(stderr, "sigill dev: data folder:", err)
		return 1
	}
	cfg := config.Dev(dir, *offset)
	if *keyFile != "" {
		cfg.Vault.KeyFile = *keyFile
	}
	cfg.Store.URL = *store
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "sigill dev:", err)
		return 1
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	sig := stopSignals()
	in, err := start(cfg, log, nil)
	if err != nil {
		fmt.Fprintln(stderr, "sigill dev:", err)
		return 1
	}
	password, err := ensureDevAccount(in.vault)
	if err != nil {
		fmt.Fprintln(stderr, "sigill dev: staff account:", err)
		in.stop(context.Background())
		return 1
	}
	printDevBanner(stdout, cfg, dir, password)
	return in.runUntilSignal(sig)
}

// ensureDevAccount makes dev@staff.test log in with SIGILL_DEV_PASSWORD, or
// with a fresh password printed at each start. It is an administrator, so
// that the staff web's accounts page can be tried.
func ensureDevAccount(v *vault.Vault) (string, error) {
	password := os.Getenv("SIGILL_DEV_PASSWORD")
	if password == "" {
		password = strings.ToLower(rand.Text()[:20])
	}
	err := v.AddAdmin(config.DevAccount, password)
	if errors.Is(err, vault.ErrExists) {
		err = v.SetPassword(config.DevAccount, password)
		if err == nil {
			err = v.SetAdmin(config.DevAccount, true)
		}
	}
	return password, err
}

func printDevBanner(w io.Writer, cfg *config.Config, dir, password string) {
	rcpt := "0701234567&login=199908072391&@" + config.DevDomain
	fmt.Fprintf(w, `sigill dev is running; data in %s; vault in %s

  SMTP submission  %s  (AUTH PLAIN or LOGIN; STARTTLS optional on loopback)
  SMTP relay       %s  (no AUTH; peers in 127.0.0.0/8; any sender)
  reader pages     http://%s/m/<token>  (the links in the notifications)
  notifications    http://%s/dev/outbox  and %s
  BankID phone     http://%s/dev/bankid  (approve orders as any test person)
  BankID RP API    https://%s/rp/v6.0/  (simulator; mTLS, certificates in %s)
  IMAP receipts    %s  (LOGIN as the staff account; plain text on loopback)
  staff web        %s/  (sign in as the staff account)
  REST API         http://%s/api/v1/  (keys: sigill apikey create %s -data %s)
  admin            http://%s/metrics  /healthz
  staff account    %s
  password         %s

Send a first message, then open the link that appears in the outbox:

  swaks --server %s --auth LOGIN --auth-user %s --auth-password '%s' \
    --from %s --to '%s' \
    --header 'Subject: Provsvar' --body 'Hej! Ditt provsvar är klart.'

`, dir, storeWhere(cfg), cfg.SMTP.Submission.Listen[0], cfg.SMTP.Relay.Listen[0],
		cfg.Reader.Listen[0], cfg.Reader.Listen[0], filepath.Join(dir, "outbox.jsonl"), cfg.Reader.Listen[0],
		cfg.SimulatorListen, filepath.Join(dir, "bankid"), cfg.IMAP.Listen[0], cfg.Staff.URL, cfg.Staff.Listen[0], config.DevAccount, dir, cfg.Admin.Listen[0],
		config.DevAccount, password,
		cfg.SMTP.Submission.Listen[0], config.DevAccount, password, config.DevAccount, rcpt)
}
