// Package smtpd owns SMTP intake: the submission listeners where staff clients
// log in, the relay listener where the organisation's own MTA hands messages
// over, every check made before a message is accepted (who may send, which
// recipients will work, size, the errand), and the one moment that matters:
// "250" is said only after the vault has committed the message to disk.
//
// Every refusal is made into a *smtp.SMTPError in one place (reply.go),
// because go-smtp recognises its error type only by type assertion: a wrapped
// error loses its code and becomes a permanent 554.
//
// The positive replies to MAIL and RCPT are go-smtp's, which writes them
// itself after Session.Mail or Rcpt returns nil; sigill builds go-smtp from
// third_party/go-smtp, where the only change is their text ("250 2.1.0
// Sender <…> ok", "250 2.1.5 Recipient <…> ok" instead of "Roger, …" and
// "I'll make sure … gets this"; SIGILL.md there says why no other way
// works). The reply that ends a transaction is sigill's: Data's 250 carries
// the message id (queued in reply.go).
package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"sigill/addressing"
	"sigill/intake"
	"sigill/internal/authgate"
	"sigill/vault"
)

// Options is what the SMTP listeners need from the configuration.
type Options struct {
	Hostname        string
	Policy          addressing.Policy
	MaxMessageBytes int64
	MaxRecipients   int
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration

	// TLS is offered with STARTTLS on submission and used by implicit-TLS
	// listeners. Nil only in dev.
	TLS *tls.Config
	// PlainAuthOnLoopback lets AUTH run without TLS. Only `sigill dev`, whose
	// listeners are all on 127.0.0.1, sets it.
	PlainAuthOnLoopback bool

	// TrustedNetworks may use the relay listener; SenderDomains limits its
	// MAIL FROM (empty: any domain, as in dev).
	TrustedNetworks []netip.Prefix
	SenderDomains   []string
	// Rules are what DATA checks before the vault is asked (package
	// intake; the REST API checks the same): with RefuseOtherFrom, a From
	// header naming another address than the vouched sender is refused
	// with 550 5.7.1; otherwise the reader page shows it as "on behalf of".
	Rules intake.Rules

	Vault  *vault.Vault
	Logger *slog.Logger
	// AuthGate limits password tries per client address and account; cmd
	// shares one with IMAP. Nil: a gate of this server's own, with the
	// default limits.
	AuthGate *authgate.Gate
	// LoginFailed, when set, is told of every refused AUTH (the login as
	// vault.LoggableLogin names it, never the password): cmd records it
	// in the audit trail.
	LoginFailed func(ip netip.Addr, login, why string)
	// Accepted, when set, is called after a 250 whose message left
	// notifications for a claim (vault.Accepted.Claimable), so that the
	// notifier claims them at once instead of at its next look at the
	// outbox; the rest its notifier was handed at birth.
	Accepted func()
}

// maxLineLength is twice rfc/5321:3494's 1000 octets: some clients write
// long 8bit lines, and nothing here depends on the limit but memory.
const maxLineLength = 2000

// Server runs every SMTP listener of one sigill instance.
type Server struct {
	opts     Options
	authGate *authgate.Gate

	mu        sync.Mutex
	listening []listening
	closed    bool
}

// listening is one go-smtp server and the listener it serves.
type listening struct {
	srv *smtp.Server
	ln  net.Listener
}

func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AuthGate == nil {
		opts.AuthGate = authgate.New(authgate.Limits{})
	}
	return &Server{opts: opts, authGate: opts.AuthGate}
}

// ServeSubmission serves staff clients on ln: STARTTLS, then AUTH, then mail.
func (s *Server) ServeSubmission(ln net.Listener) error {
	return s.serve(submission, ln)
}

// ServeSubmissionTLS serves staff clients with implicit TLS (port 465).
func (s *Server) ServeSubmissionTLS(ln net.Listener) error {
	if s.opts.TLS == nil {
		return errors.New("smtpd: implicit TLS listener without a TLS configuration")
	}
	return s.serve(submission, tls.NewListener(ln, s.opts.TLS))
}

// ServeRelay serves the organisation's MTAs on ln: no AUTH, the peer's
// address is the credential.
func (s *Server) ServeRelay(ln net.Listener) error {
	return s.serve(relay, ln)
}

// serve registers ln before serving it, so that a Shutdown that comes first,
// even while this goroutine is still starting, closes it and ends the serving.
func (s *Server) serve(k kind, ln net.Listener) error {
	srv := s.server(k)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return smtp.ErrServerClosed
	}
	s.listening = append(s.listening, listening{srv, ln})
	s.mu.Unlock()
	return srv.Serve(ln)
}

func (s *Server) server(k kind) *smtp.Server {
	srv := smtp.NewServer(&backend{s: s, kind: k})
	srv.Domain = s.opts.Hostname
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxRecipients = s.opts.MaxRecipients
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = s.opts.ReadTimeout
	srv.WriteTimeout = s.opts.WriteTimeout
	srv.TLSConfig = s.opts.TLS
	srv.AllowInsecureAuth = s.opts.PlainAuthOnLoopback
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{s.opts.Logger}
	return srv
}

// Shutdown stops accepting connections and waits for open transactions to
// finish, until ctx ends; then the remaining connections are closed. A
// message whose DATA was cut off this way never got a 250, so the client
// sends it again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	all := s.listening
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// go-smtp closes only the listeners its Serve has reached; this
			// one may not have been, if Shutdown came right after the start.
			l.ln.Close()
			if err := l.srv.Shutdown(ctx); err != nil {
				l.srv.Close()
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

type slogAdapter struct{ l *slog.Logger }

// go-smtp's messages may quote what a client sent: personal numbers masked.
func (a slogAdapter) Printf(format string, v ...any) {
	a.l.Warn("smtp", "detail", addressing.MaskPersonalNumbers(fmt.Sprintf(format, v...)))
}
func (a slogAdapter) Println(v ...any) {
	a.l.Warn("smtp", "detail", addressing.MaskPersonalNumbers(fmt.Sprint(v...)))
}
