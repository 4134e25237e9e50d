package smtpd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"sigill/addressing"
	"sigill/intake"
	"sigill/internal/authgate"
	"sigill/vault"
)

type kind int

const (
	submission kind = iota
	relay
)

func (k kind) String() string {
	if k == relay {
		return "relay"
	}
	return "submission"
}

type backend struct {
	s    *Server
	kind kind
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	ip := peerAddr(c.Conn())
	if b.kind == relay && !b.s.trusted(ip) {
		b.s.opts.Logger.Warn("relay refused: untrusted peer", "ip", ip.String())
		return nil, errUntrustedPeer(ip)
	}
	return &session{s: b.s, kind: b.kind, ip: ip}, nil
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, n := range s.opts.TrustedNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func peerAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// session is one SMTP connection's state. Every method returns through
// reply(), the one place errors become SMTP codes.
type session struct {
	s       *Server
	kind    kind
	ip      netip.Addr
	account string        // the authenticated staff address; "" until AUTH
	authed  vault.Account // what AUTH returned, re-checked at each MAIL

	from       string
	recipients intake.Recipients
}

func (ss *session) AuthMechanisms() []string {
	if ss.kind == relay {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.kind == relay {
		return nil, smtp.ErrAuthUnsupported
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && !strings.EqualFold(identity, username) {
				return reply(errAuthIdentity)
			}
			return ss.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{authenticate: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) login(username, password string) error {
	try := ss.s.authGate.Try(ss.ip, username)
	if try == nil {
		ss.s.opts.Logger.Warn("auth refused: too many failures", "ip", ss.ip.String())
		authgate.CountThrottled("smtp")
		return reply(errAuthThrottled)
	}
	acct, err := ss.s.opts.Vault.Authenticate(username, password)
	// A disabled account, or an account password where only app passwords
	// open, is a failed try like a wrong password: the gate keeps the token,
	// so the plainer answer is no faster oracle for guessing.
	if errors.Is(err, vault.ErrBadCredentials) || errors.Is(err, vault.ErrAccountDisabled) || errors.Is(err, vault.ErrAppPasswordRequired) {
		authgate.CountFailure("smtp")
		login := ss.s.opts.Vault.LoggableLogin(username)
		ss.s.opts.Logger.Info("auth failed", "ip", ss.ip.String(), "user", login, "why", loginRefusal(err))
		if ss.s.opts.LoginFailed != nil {
			ss.s.opts.LoginFailed(ss.ip, login, loginRefusal(err))
		}
		try.Failed()
		return reply(err)
	}
	if err != nil {
		try.Abandoned()
		ss.s.opts.Logger.Error("auth: the password could not be checked", "ip", ss.ip.String(), "err", err)
		return reply(err)
	}
	try.Succeeded()
	ss.account, ss.authed = acct.Address, acct
	return nil
}

// loginRefusal says in a log why a login was refused, never with the password.
func loginRefusal(err error) string {
	switch {
	case errors.Is(err, vault.ErrAccountDisabled):
		return "account disabled"
	case errors.Is(err, vault.ErrAppPasswordRequired):
		return "account password where an app password is required"
	}
	return "bad credentials"
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.account != "" {
		if err := ss.loginStillValid(); err != nil {
			return reply(err)
		}
	}
	switch {
	case ss.kind == submission && ss.account == "":
		return reply(errAuthRequired)
	case ss.kind == submission && !strings.EqualFold(from, ss.account):
		return reply(errSenderNotAccount(from, ss.account))
	}
	// The envelope sender is what the gateway vouches for to recipients.
	if err := intake.CheckSender(from); err != nil {
		ss.s.opts.Logger.Info("sender refused", "ip", ss.ip.String(), "listener", ss.kind.String(), "why", err.Error())
		return reply(err)
	}
	if ss.kind == relay && !ss.s.senderDomainAllowed(from) {
		return reply(errSenderDomain(from, ss.s.opts.SenderDomains))
	}
	ss.from = from
	return nil
}

// loginStillValid ends the session (421, see reply) when its account was
// disabled or removed, its password set or second factor reset, or its
// app password revoked, since AUTH: each
// transaction is sent on the strength of a login that still holds.
func (ss *session) loginStillValid() error {
	err := ss.s.opts.Vault.StillValid(ss.authed)
	if err == nil {
		return nil
	}
	if lost, ok := loginLost(err); ok {
		ss.s.opts.Logger.Info("session ended: its login no longer holds", "ip", ss.ip.String(),
			"account", addressing.MaskPersonalNumbers(ss.account), "why", lost.Message)
		return lost
	}
	ss.s.opts.Logger.Error("session: the login could not be re-checked", "ip", ss.ip.String(), "err", err)
	return err
}

func (s *Server) senderDomainAllowed(from string) bool {
	if len(s.opts.SenderDomains) == 0 {
		return true
	}
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		return false
	}
	domain := from[at+1:]
	for _, d := range s.opts.SenderDomains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	r, err := ss.s.opts.Policy.Parse(to)
	if err != nil {
		ss.s.opts.Logger.Info("recipient refused", "ip", ss.ip.String(), "reason", refusalKind(err))
		countRefusedRecipient(err)
		return reply(err)
	}
	ss.recipients.Add(to, r)
	return nil
}

// dataBuffers are reused across messages: growing a fresh buffer to each
// message's size was the largest allocation of intake. Accept encrypts the
// bytes before it returns and keeps no reference to them.
var dataBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (ss *session) Data(r io.Reader) error {
	buf := dataBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 { // a rare huge message does not pin its memory
			buf.Reset()
			dataBuffers.Put(buf)
		}
	}()
	if _, err := io.Copy(buf, r); err != nil {
		countRefusedData(err)
		return reply(err) // ErrDataTooLarge stays 552 5.3.4; a cut connection gets no reply anyway
	}
	raw := buf.Bytes()
	recipients := ss.recipients.List()
	in, err := ss.s.opts.Rules.Incoming(intake.Message{Sender: ss.from, Account: ss.account, Raw: raw, Recipients: recipients})
	if err != nil {
		countRefusedMessage(err)
		reason := refusedReason(err)
		ss.s.opts.Logger.Info(refusedLogLines[reason], "ip", ss.ip.String(), "from", addressing.MaskPersonalNumbers(ss.from), "reason", reason)
		return reply(err)
	}

	start := time.Now()
	accepted, err := ss.s.opts.Vault.Accept(context.Background(), in)
	if err != nil {
		ss.s.opts.Logger.Error("vault refused message", "ip", ss.ip.String(), "from", addressing.MaskPersonalNumbers(ss.from), "err", err)
		return reply(errVault(err))
	}
	acceptSeconds.Observe(time.Since(start).Seconds())
	if ss.s.opts.Accepted != nil && accepted.Claimable > 0 {
		ss.s.opts.Accepted()
	}
	messagesAccepted.WithLabelValues(ss.kind.String()).Inc()
	ss.s.opts.Logger.Info("message accepted", "id", accepted.ID, "listener", ss.kind.String(), "ip", ss.ip.String(),
		"from", addressing.MaskPersonalNumbers(ss.from), "recipients", len(recipients), "bytes", len(raw))
	// Not through reply: its errors.As targets escape, eight allocations
	// per message for a reply that is already an *smtp.SMTPError.
	return queued(accepted.ID)
}

func (ss *session) Reset() {
	ss.from = ""
	ss.recipients = intake.Recipients{}
}

func (ss *session) Logout() error { return nil }
