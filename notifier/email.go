package notifier

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configure the smarthost that notification e-mails leave
// through (notifier.email).
type SMTPOptions struct {
	Addr     string      // host:port, e.g. mail.example.se:587
	Username string      // AUTH PLAIN with these when set (only ever over TLS)
	Password string      //
	From     string      // envelope sender and From address, e.g. noreply@secure.example.se
	Hostname string      // EHLO name after STARTTLS; default the From address's domain
	TLS      *tls.Config // nil: the system roots, server name from Addr
	// Idle connections kept for reuse (default 4); each is closed after
	// IdleTimeout (default 30 s) unused.
	MaxIdle     int
	IdleTimeout time.Duration
}

// SMTPSender sends notification e-mails through the smarthost with go-smtp's
// client: STARTTLS always (a smarthost without it is refused), then AUTH
// PLAIN when a username is set, one message per transaction; connections are
// reused. A 5xx reply to MAIL, RCPT or DATA is permanent (the address is
// refused), except 530/535/538, which ask for authentication; everything
// else — connection faults, 4xx, a refused AUTH — is temporary.
type SMTPSender struct {
	o   SMTPOptions
	tls *tls.Config

	mu   sync.Mutex
	idle []idleClient
}

type idleClient struct {
	c     *smtp.Client
	since time.Time
}

// NewSMTPSender checks the options and returns the sender. It connects to
// nothing until the first message.
func NewSMTPSender(o SMTPOptions) (*SMTPSender, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("smarthost %q is not host:port: %w", o.Addr, err)
	}
	if _, _, ok := strings.Cut(o.From, "@"); !ok {
		return nil, fmt.Errorf("smarthost: from address %q has no domain", o.From)
	}
	if o.Hostname == "" {
		o.Hostname = domainOf(o.From)
	}
	if o.MaxIdle == 0 {
		o.MaxIdle = 4
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Second
	}
	cfg := &tls.Config{}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return &SMTPSender{o: o, tls: cfg}, nil
}

func (s *SMTPSender) Name() string { return "smtp" }

// From is the address notification e-mails come from.
func (s *SMTPSender) From() string { return s.o.From }

// Close closes the idle connections.
func (s *SMTPSender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, ic := range idle {
		ic.c.Quit()
		ic.c.Close()
	}
	return nil
}

func domainOf(addr string) string {
	_, d, _ := strings.Cut(addr, "@")
	return strings.ToLower(d)
}

// SendMail sends m in one SMTP transaction and returns its Message-ID as the
// provider id.
func (s *SMTPSender) SendMail(ctx context.Context, m *Mail) (string, error) {
	for try := 0; ; try++ {
		c, reused, err := s.client(ctx)
		if err != nil {
			return "", err
		}
		err = s.transact(ctx, c, m)
		if err == nil {
			s.release(c)
			return m.HeaderID, nil
		}
		c.Close()
		// A kept connection the server has meanwhile dropped fails before
		// any reply: once more on a fresh one. Only before DATA: once the
		// message has gone out, the smarthost may hold it, and sending it
		// again at once would deliver it twice.
		var se *smtp.SMTPError
		if reused && try == 0 && errors.Is(err, errBeforeData) && !errors.As(err, &se) && ctx.Err() == nil {
			continue
		}
		return "", err
	}
}

// transact runs MAIL, RCPT and DATA; ctx's end closes the connection.
func (s *SMTPSender) transact(ctx context.Context, c *smtp.Client, m *Mail) error {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		c.CommandTimeout = time.Until(d)
		c.SubmissionTimeout = time.Until(d)
	}
	err := sendOne(c, m)
	if err == nil {
		// The smarthost said 250: sent, however late.
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("smarthost: %w", ctx.Err())
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code != 530 && se.Code != 535 && se.Code != 538 {
		return Permanent(fmt.Errorf("smarthost refused the message: %d %s", se.Code, snippet([]byte(se.Message))))
	}
	return fmt.Errorf("smarthost: %w", err)
}

// errBeforeData marks a failure before the message's data went out.
var errBeforeData = errors.New("before DATA")

// sendOne is go-smtp's Client.SendMail for one recipient, telling a failure
// before DATA (errBeforeData) from one after.
func sendOne(c *smtp.Client, m *Mail) error {
	if err := c.Mail(m.From, nil); err != nil {
		return errors.Join(errBeforeData, err)
	}
	if err := c.Rcpt(m.To, nil); err != nil {
		return errors.Join(errBeforeData, err)
	}
	w, err := c.Data()
	if err != nil {
		return errors.Join(errBeforeData, err)
	}
	if _, err := w.Write(m.MIME); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// client returns a kept connection (RSET first) or a new one.
func (s *SMTPSender) client(ctx context.Context) (*smtp.Client, bool, error) {
	for {
		s.mu.Lock()
		if len(s.idle) == 0 {
			s.mu.Unlock()
			break
		}
		ic := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		s.mu.Unlock()
		if time.Since(ic.since) < s.o.IdleTimeout {
			return ic.c, true, nil
		}
		ic.c.Close()
	}
	c, err := s.dial(ctx)
	return c, false, err
}

func (s *SMTPSender) release(c *smtp.Client) {
	if err := c.Reset(); err != nil {
		c.Close()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.idle) >= s.o.MaxIdle {
		c.Quit()
		c.Close()
		return
	}
	s.idle = append(s.idle, idleClient{c, time.Now()})
}

func (s *SMTPSender) dial(ctx context.Context) (*smtp.Client, error) {
	c, err := s.greet(ctx)
	if err != nil {
		return nil, err
	}
	fail := func(what string, err error) (*smtp.Client, error) {
		c.Close()
		return nil, fmt.Errorf("smarthost %s: %s: %w", s.o.Addr, what, err)
	}
	if s.o.Username != "" {
		// AUTH is bounded by ctx as the greeting was.
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		if !c.SupportsAuth("PLAIN") {
			return fail("AUTH", errors.New("the server offers no AUTH PLAIN"))
		}
		if err := c.Auth(sasl.NewPlainClient("", s.o.Username, s.o.Password)); err != nil {
			return fail("AUTH", err)
		}
	}
	if ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("smarthost %s: %w", s.o.Addr, ctx.Err())
	}
	return c, nil
}

// Check connects to the smarthost and greets it (STARTTLS, EHLO), then
// says QUIT: it sends no mail and does not authenticate, so a readiness
// probe every few seconds neither spends the account's AUTH attempts nor
// keeps a connection.
func (s *SMTPSender) Check(ctx context.Context) error {
	c, err := s.greet(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smarthost %s: QUIT: %w", s.o.Addr, err)
	}
	return nil
}

// greet connects, starts TLS and says EHLO, all within ctx.
func (s *SMTPSender) greet(ctx context.Context) (*smtp.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.o.Addr)
	if err != nil {
		return nil, fmt.Errorf("smarthost %s: %w", s.o.Addr, err)
	}
	// The handshake is bounded by ctx too.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	c, err := smtp.NewClientStartTLS(conn, s.tls)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("smarthost %s: STARTTLS: %w", s.o.Addr, err)
	}
	fail := func(what string, err error) (*smtp.Client, error) {
		c.Close()
		return nil, fmt.Errorf("smarthost %s: %s: %w", s.o.Addr, what, err)
	}
	if err := c.Hello(s.o.Hostname); err != nil {
		return fail("EHLO", err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		return fail("STARTTLS", errors.New("no TLS"))
	}
	if ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("smarthost %s: %w", s.o.Addr, ctx.Err())
	}
	return c, nil
}

// mailParams is what buildMail needs.
type mailParams struct {
	JobID     uint64
	MessageID string // the vault's
	From      string // address
	OrgName   string // the From header's name
	SentBy    string // who the text says it is from (Notifier.senderLine); OrgName when empty
	To        string
	Lang      string
	Errand    string
	Link      string
	Date      time.Time
}

// buildMail makes the notification e-mail: multipart/alternative with a
// text and an HTML part, From the organisation's name and the configured
// address, Subject the errand, a Message-ID <job.message@from-domain> that
// stays the same on every attempt (so a receiving system can tell a resend),
// and Auto-Submitted: auto-generated (RFC 3834) so that no auto-reply comes
// back. Nothing of the secret message's body is in it.
func buildMail(p mailParams) (*builtMail, error) {
	who := p.SentBy
	if who == "" {
		who = p.OrgName
	}
	text := mailText(p.Lang, who, p.Errand, p.Link)
	html, err := mailHTMLPart(p.Lang, who, p.Errand, p.Link)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%d.%s@%s", p.JobID, p.MessageID, domainOf(p.From))
	var h mail.Header
	h.SetDate(p.Date)
	h.SetAddressList("From", []*mail.Address{{Name: oneLine(p.OrgName), Address: p.From}})
	h.SetAddressList("To", []*mail.Address{{Address: p.To}})
	h.SetSubject(oneLine(p.Errand))
	h.SetMessageID(id)
	h.Set("Auto-Submitted", "auto-generated")
	h.Set("X-Auto-Response-Suppress", "All") // Exchange's own word for the same
	h.Set("Content-Language", phrasesFor(p.Lang).htmlLang)
	var b bytes.Buffer
	w, err := mail.CreateInlineWriter(&b, h)
	if err != nil {
		return nil, err
	}
	for _, part := range []struct{ ctype, body string }{{"text/plain", text}, {"text/html", html}} {
		var ph mail.InlineHeader
		ph.SetContentType(part.ctype, map[string]string{"charset": "utf-8"})
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &builtMail{Mail: &Mail{To: p.To, From: p.From, HeaderID: id, MIME: b.Bytes()}, text: text}, nil
}

// builtMail is a notification e-mail and its plain-text part (for the
// send's Origin).
type builtMail struct {
	*Mail
	text string
}
