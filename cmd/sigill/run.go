package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"sigill/addressing"
	"sigill/api"
	"sigill/apikey"
	"sigill/audit"
	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/config"
	"sigill/imapd"
	"sigill/intake"
	"sigill/internal/authgate"
	"sigill/internal/devpki"
	"sigill/internal/egress"
	"sigill/notifier"
	"sigill/passkey"
	"sigill/readerweb"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/smtpd"
	"sigill/staffweb"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// instance is one running gateway. start builds it in the order a message
// travels: the vault it is sealed into, the notifier that tells the
// recipient, the SMTP listeners that take it in, BankID and the reader pages
// where it is opened, and the IMAP mailbox where its receipts come back.
type instance struct {
	cfg      *config.Config
	log      *slog.Logger
	vault    *vault.Vault
	receipts *mailbox.Store // the receipts mailboxes, filed inside the vault's transactions
	keys     *apikey.Store  // the REST API's keys, in the vault's tables
	trail    *audit.Store   // the staff's audit records and the by-number index, in the vault's tables
	notifier *notifier.Notifier
	smtp     *smtpd.Server
	reader   *readerweb.Server
	imap     *imapd.Server
	admin    *http.Server

	readerHTTP *http.Server
	staffHTTP  *http.Server // the REST API (and later the staff web)
	simulator  *http.Server // dev only: the BankID simulator's RP API

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func start(cfg *config.Config, log *slog.Logger, tlsConfig *tls.Config) (*instance, error) {
	applyGC(cfg.Node, os.Getenv)
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{cfg: cfg, log: log, cancel: cancel}
	var err error
	defer func() {
		if err != nil {
			in.stop(context.Background())
		}
	}()

	// Every listener is bound before anything is served, so a port in use
	// stops the start with its name rather than leaving half a gateway.
	var lns listeners
	if err = lns.bind(cfg); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lns.closeAll()
		}
	}()

	// 1. The vault: one transaction per accepted message, on disk before 250.
	if err = os.MkdirAll(filepath.Dir(cfg.Vault.Path), 0o700); err != nil {
		return nil, err
	}
	if in.vault, in.receipts, in.keys, in.trail, err = openVault(cfg); err != nil {
		return nil, err
	}
	in.goRun(func() { in.vault.RunSweeper(ctx, time.Hour) })
	in.goRun(func() { in.trail.RunSweeper(ctx, time.Hour) })

	// 2. The notifier: outbox jobs become an SMS or e-mail with the link;
	// delivery reports and receipts follow from the events.
	org := receiptsOrg(cfg)
	receiptMail := func(o *notifier.Options) {
		o.ReceiptMail = func(_ context.Context, j vault.Job) ([]byte, error) {
			raw, _, err := in.receipts.Message(org, j.Event)
			return raw, err
		}
	}
	// The REST API's webhooks go out through the notifier too, every
	// connection past the SSRF guard (sigill dev: loopback allowed).
	var guard *egress.Guard
	if guard, err = egress.New(cfg.API.WebhookAllow, cfg.Dev); err != nil {
		return nil, fmt.Errorf("api.webhook_allow: %w", err)
	}
	webhooks := func(o *notifier.Options) { o.Webhook = api.NewDeliverer(in.vault, guard, log).Deliver }
	if in.notifier, err = notifier.FromConfig(cfg, in.vault, log, receiptMail, webhooks); err != nil {
		return nil, err
	}
	in.goRun(func() { in.notifier.Run(ctx) })

	// In dev, a throwaway PKI stands in for every certificate: STARTTLS on
	// submission, and both ends of the BankID simulator's mTLS.
	var pki *devpki.PKI
	if cfg.BankID.Environment == "simulator" {
		if pki, err = devpki.New(filepath.Join(cfg.DataDir, "bankid")); err != nil {
			return nil, fmt.Errorf("bankid simulator certificates: %w", err)
		}
		if tlsConfig == nil {
			tlsConfig = &tls.Config{Certificates: []tls.Certificate{pki.Server}}
		}
	}

	// 3. SMTP in: recipients checked at RCPT, the message sealed at DATA.
	// One gate against password guessing for SMTP and IMAP alike.
	gate := loginGate(cfg)
	// Each service gets its own copy of the TLS configuration: net/http adds
	// its ALPN protocols to the one it is given, and an IMAP client offering
	// "imap" would then be refused.
	smtpOpts := smtpOptions(cfg, tlsConfig.Clone(), in.vault, gate, in.notifier.Kick, log)
	smtpOpts.LoginFailed = loginFailed(in.trail, "smtp", log)
	in.smtp = smtpd.New(smtpOpts)
	for _, ln := range lns.submission {
		in.serve("smtp submission", ln, in.smtp.ServeSubmission)
	}
	for _, ln := range lns.submissionTLS {
		in.serve("smtp submission (implicit TLS)", ln, in.smtp.ServeSubmissionTLS)
	}
	for _, ln := range lns.relay {
		in.serve("smtp relay", ln, in.smtp.ServeRelay)
	}

	// 4. BankID: the real service, or in dev the simulator, which answers
	// the RP API over mTLS and plays the recipient's phone at /dev/bankid.
	readerMux := http.NewServeMux()
	var bankidClient *bankid.Client
	if pki != nil {
		sim := bankidsim.New()
		in.simulator = logHTTPErrors(sim.Server(pki), log, "bankid simulator")
		for _, ln := range lns.simulator {
			in.serve("bankid simulator (RP API)", ln, func(ln net.Listener) error { return in.simulator.ServeTLS(ln, "", "") })
		}
		// Another page open in the developer's browser must not approve orders.
		phone := http.NewCrossOriginProtection().Handler(sim.PhoneHandler())
		readerMux.Handle("/dev/bankid", phone)
		readerMux.Handle("/dev/bankid/", phone)
		readerMux.Handle("GET /dev/outbox", in.notifier.DevOutbox())
		bankidClient, err = bankid.NewClient(bankidsim.ClientConfig(pki, "https://"+cfg.SimulatorListen+"/rp/v6.0/"))
	} else {
		bankidClient, err = bankid.NewClient(bankidConfig(cfg))
	}
	if err != nil {
		return nil, fmt.Errorf("bankid: %w", err)
	}

	// 5. The reader pages: the recipient opens the link, signs in, reads.
	if in.reader, err = readerweb.New(readerOptions(cfg, in.vault, in.receipts, bankidClient, log)); err != nil {
		return nil, err
	}
	readerMux.Handle("/", in.reader.Handler())
	readerMux.Handle("POST /hooks/sms", in.notifier.ReportHandler())
	in.readerHTTP = &http.Server{Handler: readerMux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig.Clone(), ErrorLog: httpErrorLog(log, "reader")}
	for _, ln := range lns.reader {
		if cfg.Dev {
			in.serve("reader", ln, in.readerHTTP.Serve)
		} else {
			in.serve("reader (https)", ln, func(ln net.Listener) error { return in.readerHTTP.ServeTLS(ln, "", "") })
		}
	}

	// 6. Receipts over IMAP: each staff account's INBOX, built from the events.
	in.imap = imapd.New(imapd.Options{Vault: in.vault, Mailboxes: in.receipts, Org: org, TLS: tlsConfig.Clone(), InsecureAuth: cfg.Dev, AuthGate: gate, Logger: log, LoginFailed: loginFailed(in.trail, "imap", log)})
	for _, ln := range lns.imapTLS {
		in.serve("imap (implicit TLS)", ln, in.imap.ServeTLS)
	}
	for _, ln := range lns.imap {
		in.serve("imap", ln, in.imap.Serve)
	}

	// 7. The staff listener: systems send and read through the REST API,
	// clerks through the staff web, which signs in through the same gate.
	webOptions := staffwebOptions(cfg, in.vault, in.keys, in.trail, gate, in.notifier.Kick, log)
	webOptions.Replies = in.receipts
	if webOptions.Passkeys, err = passkeys(cfg, in.vault); err != nil {
		return nil, err
	}
	web, err := staffweb.New(webOptions)
	if err != nil {
		return nil, fmt.Errorf("staff web: %w", err)
	}
	in.goRun(func() { web.RunSweeper(ctx, 10*time.Minute) })
	in.staffHTTP = &http.Server{Handler: staffHandler(apiOptions(cfg, in.vault, in.receipts, in.keys, in.trail, guard, in.notifier.Kick, log), web), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConfig.Clone(), ErrorLog: httpErrorLog(log, "staff")}
	for _, ln := range lns.staff {
		if cfg.Dev {
			in.serve("staff", ln, in.staffHTTP.Serve)
		} else {
			in.serve("staff (https)", ln, func(ln net.Listener) error { return in.staffHTTP.ServeTLS(ln, "", "") })
		}
	}

	// Admin: metrics, health, and the vault commands' way in while we hold the file.
	token := newAdminToken()
	ready := newReadiness(readinessChecks(in.vault, bankidClient, in.notifier))
	in.admin = &http.Server{Handler: withReadyz(adminHandler(in.vault, in.keys, in.trail, cfg.GDPR.TwoPerson, token), ready), ReadHeaderTimeout: 10 * time.Second, ErrorLog: httpErrorLog(log, "admin")}
	for _, ln := range lns.admin {
		in.serve("admin", ln, in.admin.Serve)
	}
	if len(lns.admin) > 0 {
		if err = writeAdminFile(cfg, lns.admin[0].Addr().String(), token); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
	}
	return in, nil
}

func (in *instance) goRun(f func()) {
	in.wg.Add(1)
	go func() { defer in.wg.Done(); f() }()
}

func (in *instance) serve(name string, ln net.Listener, serve func(net.Listener) error) {
	in.log.Info("listening", "service", name, "addr", ln.Addr().String())
	in.goRun(func() {
		if err := serve(ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, smtp.ErrServerClosed) {
			in.log.Error("listener stopped", "service", name, "err", err)
		}
	})
}

// stop lets open SMTP transactions and IMAP commands finish, side by side
// (until ctx ends; IMAP sessions get BYE), then closes the vault. A message
// cut off here never got its 250, so its client retries.
func (in *instance) stop(ctx context.Context) {
	var drains sync.WaitGroup
	if in.imap != nil {
		drains.Go(func() { in.imap.Shutdown(ctx) })
	}
	if in.smtp != nil {
		in.smtp.Shutdown(ctx)
	}
	drains.Wait()
	for _, srv := range []*http.Server{in.readerHTTP, in.staffHTTP, in.simulator} {
		if srv != nil {
			srv.Shutdown(ctx)
		}
	}
	if in.reader != nil {
		in.reader.Close()
	}
	if in.admin != nil {
		in.admin.Close()
		os.Remove(adminFile(in.cfg))
	}
	in.cancel()
	in.wg.Wait()
	if in.vault != nil {
		in.vault.Close()
	}
}

// stopSignals catches SIGINT and SIGTERM from before the start, so that a
// signal arriving while listeners open still stops the gateway gracefully.
func stopSignals() chan os.Signal {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	return sig
}

// drainTimeout bounds a graceful stop: open SMTP transactions and IMAP
// commands have this long to finish before their connections are cut.
// dist/sigill.service's TimeoutStopSec leaves room for it.
const drainTimeout = 30 * time.Second

// runUntilSignal serves until SIGINT or SIGTERM, then stops gracefully.
func (in *instance) runUntilSignal(sig chan os.Signal) int {
	got := <-sig
	in.log.Info("stopping", "signal", got.String(), "drain_timeout", drainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	in.stop(ctx)
	in.log.Info("stopped")
	return 0
}

type listeners struct {
	submission, submissionTLS, relay, reader, staff, imap, imapTLS, simulator, admin []net.Listener
}

func (l *listeners) bind(cfg *config.Config) error {
	type group struct {
		key   string
		addrs []string
		into  *[]net.Listener
	}
	groups := []group{
		{"smtp.submission.listen", cfg.SMTP.Submission.Listen, &l.submission},
		{"smtp.submission.implicit_tls_listen", cfg.SMTP.Submission.ImplicitTLSListen, &l.submissionTLS},
		{"smtp.relay.listen", cfg.SMTP.Relay.Listen, &l.relay},
		{"reader.listen", cfg.Reader.Listen, &l.reader},
		{"staff.listen", cfg.Staff.Listen, &l.staff},
		{"admin.listen", cfg.Admin.Listen, &l.admin},
	}
	// IMAP: implicit TLS in production; dev's one listener is plain on loopback.
	if cfg.Dev {
		groups = append(groups,
			group{"imap.listen", cfg.IMAP.Listen, &l.imap},
			group{"bankid simulator", []string{cfg.SimulatorListen}, &l.simulator})
	} else {
		groups = append(groups,
			group{"imap.listen", cfg.IMAP.Listen, &l.imapTLS},
			group{"imap.starttls_listen", cfg.IMAP.StartTLSListen, &l.imap})
	}
	for _, g := range groups {
		for _, addr := range g.addrs {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("%s: %w", g.key, err)
			}
			*g.into = append(*g.into, ln)
		}
	}
	return nil
}

func (l *listeners) closeAll() {
	for _, group := range [][]net.Listener{l.submission, l.submissionTLS, l.relay, l.reader, l.staff, l.imap, l.imapTLS, l.simulator, l.admin} {
		for _, ln := range group {
			ln.Close()
		}
	}
}

// The translations from configuration to each package's options.

func loadOrDev(configPath, dataDir string) (*config.Config, error) {
	if configPath != "" {
		return config.Load(configPath)
	}
	if dataDir == "" {
		dataDir = "./sigill-data"
	}
	return config.Dev(dataDir, 0), nil
}

func addressingPolicy(cfg *config.Config) addressing.Policy {
	return addressing.Policy{
		Domains:      cfg.SMTP.Domains,
		Region:       cfg.Addressing.Region,
		DefaultLogin: cfg.Addressing.DefaultLogin,
		MaxLogins:    cfg.Addressing.MaxLogins,
		DefaultLang:  cfg.Organisation.DefaultLang,
		MaxLifetime:  cfg.Vault.MaxRetention.Duration,
	}
}

// openVault opens the vault with the receipts mailboxes' hook, so that
// every event appended, by the daemon or by a command, files its receipt,
// the notifier's, which keeps the provider ids of notifications, the
// API keys' tables, the staff web's sessions, and the audit trail's (its
// by-number index).
func openVault(cfg *config.Config) (*vault.Vault, *mailbox.Store, *apikey.Store, *audit.Store, error) {
	boxes := mailbox.New(mailbox.Options{
		MailToSender: cfg.Receipts.MailToSender,
		Org:          receiptsOrg(cfg),
		ReplyCopy:    cfg.Organisation.ReplyCopy,
		Limits:       intakeRules(cfg),
	})
	keys := apikey.New()
	trail := audit.New(cfg.Vault.AuditRetention.Duration)
	engine, keyStore, err := openStore(cfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	v, err := vault.Open(vault.Options{
		Path:            cfg.Vault.Path,
		Engine:          engine,
		KeyStoreBackend: keyStore,
		KeyFile:         cfg.Vault.KeyFile,
		NodeID:          cfg.Node.ID,
		Retention:       cfg.Vault.Retention.Duration,
		MaxRetention:    cfg.Vault.MaxRetention.Duration,
		AuditRetention:  cfg.Vault.AuditRetention.Duration,
		EscrowKey:       readOptional(cfg.Vault.EscrowKey),
		Hooks:           []vault.Hook{boxes.Hook(), notifier.Hook(), keys.Hook(), api.Hook(), sentindex.Hook(), staffweb.Hook(), readerweb.Hook(), trail.Hook(), passkey.Hook()},
		// Only app passwords open SMTP and IMAP (staff-web.md).
		RequireSecondFactor: cfg.Staff.Require2FA,
	})
	if err != nil {
		if engine != nil {
			engine.Close() // Open closes it on most of its errors, not all; twice is harmless
		}
		return nil, nil, nil, nil, err
	}
	boxes.Attach(v)
	trail.AttachReplies(boxes)
	keys.Attach(v)
	if err := trail.Attach(v); err != nil {
		v.Close()
		return nil, nil, nil, nil, err
	}
	return v, boxes, keys, trail, nil
}

func readOptional(path string) []byte {
	if path == "" {
		return nil
	}
	data, _ := os.ReadFile(path) // config.Validate has checked it exists
	return data
}

func smtpOptions(cfg *config.Config, tlsConfig *tls.Config, v *vault.Vault, gate *authgate.Gate, accepted func(), log *slog.Logger) smtpd.Options {
	var trusted []netip.Prefix
	for _, n := range cfg.SMTP.Relay.TrustedNetworks {
		trusted = append(trusted, netip.MustParsePrefix(n)) // validated by config
	}
	return smtpd.Options{
		Hostname:            cfg.SMTP.Hostname,
		Policy:              addressingPolicy(cfg),
		MaxMessageBytes:     cfg.SMTP.MaxMessageBytes,
		MaxRecipients:       cfg.SMTP.MaxRecipients,
		ReadTimeout:         cfg.SMTP.ReadTimeout.Duration,
		WriteTimeout:        cfg.SMTP.WriteTimeout.Duration,
		TLS:                 tlsConfig,
		PlainAuthOnLoopback: cfg.Dev,
		TrustedNetworks:     trusted,
		SenderDomains:       cfg.SMTP.Relay.SenderDomains,
		Rules:               intakeRules(cfg),
		Vault:               v,
		Logger:              log,
		AuthGate:            gate,
		Accepted:            accepted,
	}
}

func apiOptions(cfg *config.Config, v *vault.Vault, boxes *mailbox.Store, keys *apikey.Store, trail *audit.Store, guard *egress.Guard, accepted func(), log *slog.Logger) api.Options {
	return api.Options{
		Egress:            guard,
		PlainHTTPWebhooks: cfg.Dev,
		Vault:             v,
		Keys:              keys,
		Audit:             trail,
		TwoPerson:         cfg.GDPR.TwoPerson,
		Replies:           boxes,
		Policy:            addressingPolicy(cfg),
		Rules:             intakeRules(cfg),
		MaxRecipients:     cfg.SMTP.MaxRecipients,
		Hostname:          cfg.SMTP.Hostname,
		Accepted:          accepted,
		Logger:            log,
	}
}

func staffwebOptions(cfg *config.Config, v *vault.Vault, keys *apikey.Store, trail *audit.Store, gate *authgate.Gate, accepted func(), log *slog.Logger) staffweb.Options {
	return staffweb.Options{
		Vault:       v,
		Keys:        keys,
		Audit:       trail,
		Gate:        gate,
		OrgName:     cfg.Organisation.Name,
		DefaultLang: cfg.Organisation.DefaultLang,
		Require2FA:  cfg.Staff.Require2FA,
		SessionIdle: cfg.Staff.SessionIdle.Duration,
		SessionMax:  cfg.Staff.SessionMax.Duration,
		Secure:      !cfg.Dev,
		Sending: staffweb.Sending{
			Policy:        addressingPolicy(cfg),
			Rules:         intakeRules(cfg),
			MaxRecipients: cfg.SMTP.MaxRecipients,
			Hostname:      cfg.SMTP.Hostname,
			Accepted:      accepted,
		},
		Logger: log,
	}
}

// passkeys is the staff web's WebAuthn relying party: the site is
// staff.url's host name, and its origin the only one accepted. Without
// staff.url, no passkeys.
func passkeys(cfg *config.Config, v *vault.Vault) (*passkey.Service, error) {
	if cfg.Staff.URL == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.Staff.URL) // config.Validate has checked it
	if err != nil {
		return nil, fmt.Errorf("staff.url: %w", err)
	}
	svc, err := passkey.New(v, u.Hostname(), cfg.Organisation.Name, []string{u.Scheme + "://" + u.Host})
	if err != nil {
		return nil, fmt.Errorf("staff web passkeys: %w", err)
	}
	return svc, nil
}

// intakeRules are the rules a message meets at SMTP's DATA and at the
// REST API's send alike.
func intakeRules(cfg *config.Config) intake.Rules {
	return intake.Rules{
		MaxBytes:        cfg.SMTP.MaxMessageBytes,
		RefuseOtherFrom: cfg.SMTP.FromHeader == config.FromRefuse,
		DefaultErrand: map[string]string{
			"sv": "Säkert meddelande från " + cfg.Organisation.Name,
			"en": "Secure message from " + cfg.Organisation.Name,
		},
		DefaultLang: cfg.Organisation.DefaultLang,
	}
}

func bankidConfig(cfg *config.Config) bankid.Config {
	return bankid.Config{
		Environment: bankid.Environment(cfg.BankID.Environment),
		P12:         readOptional(cfg.BankID.CertificateFile),
		P12Password: cfg.BankID.CertificatePassword,
		CAFile:      cfg.BankID.CAFile,
		BaseURL:     cfg.BankID.URL, // "" keeps the environment's own
	}
}

func readerOptions(cfg *config.Config, v *vault.Vault, replies *mailbox.Store, client *bankid.Client, log *slog.Logger) readerweb.Options {
	var proxies []netip.Prefix
	for _, p := range cfg.Reader.TrustedProxies {
		if prefix, err := netip.ParsePrefix(p); err == nil {
			proxies = append(proxies, prefix)
		} else if addr, err := netip.ParseAddr(p); err == nil {
			proxies = append(proxies, netip.PrefixFrom(addr, addr.BitLen()))
		}
	}
	return readerweb.Options{
		Vault:           v,
		Replies:         replies,
		MaxReplyBytes:   cfg.SMTP.MaxMessageBytes,
		BankID:          client,
		OrgName:         cfg.Organisation.Name,
		DefaultLang:     cfg.Organisation.DefaultLang,
		UserVisibleText: cfg.BankID.UserVisibleText,
		SessionTTL:      cfg.Reader.SessionTTL.Duration,
		TrustedProxies:  proxies,
		Secure:          !cfg.Dev,
		Logger:          log,
	}
}

// loginGate is the one gate against password guessing, with login_limit's
// burst and window.
func loginGate(cfg *config.Config) *authgate.Gate {
	return authgate.New(authgate.Limits{Burst: cfg.LoginLimit.Burst, Window: cfg.LoginLimit.Window.Duration})
}

func receiptsOrg(cfg *config.Config) receipts.Org {
	return receipts.Org{
		Name:     cfg.Organisation.Name,
		Hostname: cfg.SMTP.Hostname,
		From:     cfg.Notifier.Email.From,
		Lang:     cfg.Organisation.DefaultLang,

		WholePersonalNumber: cfg.Receipts.WholePersonalNumber,
	}
}

// applyGC sets the garbage collector as [node] says, except for what GOGC
// or GOMEMLIMIT in the environment set (the runtime read them at start, and
// an operator who sets one means it).
func applyGC(n config.Node, getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(n.GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		limit := int64(math.MaxInt64) // the runtime's own "no limit"
		if n.MemoryLimitMB > 0 {
			limit = int64(n.MemoryLimitMB) << 20
		}
		debug.SetMemoryLimit(limit)
	}
}
