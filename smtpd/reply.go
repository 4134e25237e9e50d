package smtpd

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"sigill/addressing"
	"sigill/intake"
	"sigill/vault"
)

// Refusals this package makes itself. Each names the fault and the mend.
var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required: log in with your staff account (AUTH PLAIN or LOGIN over STARTTLS)"}
	errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication failed: wrong login or password"}
	errAuthIdentity = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication failed: authorization identity must be the login itself"}
	errAuthDisabled = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication failed: this account is disabled; ask an administrator"}
	errAuthAppPassword = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "This account uses a second factor: log in with an app password (sigill user app-password)"}
	errAuthThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many failed logins from your address or at this account; wait a few minutes and try again"}
)

// loginLost is the reply that ends a logged-in session whose login no
// longer holds. 421 rather than 530 or 535: a 5xx to MAIL is, to a mail
// program or an MTA, a permanent failure of the message (a bounce or an
// error dialog), and the session would stay "logged in"; a 421 closes the
// connection (RFC 5321 §3.8), the client keeps the message and logs in
// anew, where AUTH's 535 tells the user what changed.
func loginLost(err error) (*smtp.SMTPError, bool) {
	why, ok := vault.WhyLoginEnded(err)
	if !ok {
		return nil, false
	}
	return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: why + "; closing the connection"}, true
}

// errSender names what is wrong with an envelope sender and how to mend
// it, without repeating the address (it may hold a personal number or
// characters that turn text around).
func errSender(e *intake.SenderError) *smtp.SMTPError {
	why := e.Why
	if e.Masked != "" {
		why += " (" + e.Masked + "), which would be shown in clear in the SMS"
	}
	return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
		Message: "Sender refused: " + why + "; the gateway shows the sender to every recipient, so send from a plain mailbox address such as name@your-domain"}
}

func errUntrustedPeer(ip netip.Addr) error {
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("%s is not a trusted relay; staff clients send on the submission port with AUTH", ip)}
}

func errSenderNotAccount(from, account string) error {
	return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("<%s>: you are logged in as %s; send from that address", from, account)}
}

func errSenderDomain(from string, domains []string) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("<%s>: sender domain not served by this relay; senders must be at %s", from, strings.Join(domains, ", "))}
}

func errOtherFrom(other, vouched string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("The From header names %s, but this gateway vouches only for the sender <%s>: write From as <%s>", oneLineCut(other, 64), vouched, vouched)}
}

func errSubjectPersonalNumber(masked string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: fmt.Sprintf("The Subject holds a personal identity number (%s); the subject is sent in clear text by SMS: move the number into the message body", masked)}
}

// errUnreadableHeader names the parser's complaint on one line (it may
// quote the offending header line, CRLF and all), cut short.
func errUnreadableHeader(err error) *smtp.SMTPError {
	why := oneLineCut(err.Error(), 120)
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: fmt.Sprintf("The message header cannot be read (%s); nothing was stored", why)}
}

// oneLineCut makes what a sender wrote fit to repeat in a reply: runs of
// white space as one space, other unprintable characters as '?', at most
// max characters.
func oneLineCut(s string, max int) string {
	s = strings.Map(func(c rune) rune {
		if c == utf8.RuneError || !unicode.IsPrint(c) && !unicode.IsSpace(c) {
			return '?'
		}
		return c
	}, strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// errEmptyMessage is permanent: sending the same nothing again cannot help
// (a 4xx would keep it in the sender's queue until it expires).
var errEmptyMessage = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message: "The message is empty (no header, no body); nothing was stored: write the message and send it again"}

// vaultFault marks an error from the vault, so reply answers it with a
// temporary code: the client keeps the message and tries again.
type vaultFault struct{ err error }

func (v vaultFault) Error() string { return v.err.Error() }
func (v vaultFault) Unwrap() error { return v.err }

func errVault(err error) error { return vaultFault{err} }

// queued is the reply that ends a transaction well. go-smtp writes a nil
// error from Data as its own fixed text, so the message id travels as a
// 250 "error".
func queued(id string) error {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: id + " queued"}
}

// reply is the one place where errors become SMTP replies.
func reply(err error) error {
	var (
		smtpErr *smtp.SMTPError
		refusal *addressing.Refusal
		fault   vaultFault
		pnr     *intake.PersonalNumberError
		other   *intake.OtherFromError
		header  *intake.UnreadableHeaderError
		large   *intake.TooLargeError
		sender  *intake.SenderError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &smtpErr):
		return smtpErr
	case errors.As(err, &sender):
		return errSender(sender)
	case errors.Is(err, intake.ErrEmpty):
		return errEmptyMessage
	case errors.As(err, &header):
		return errUnreadableHeader(header.Err)
	case errors.As(err, &pnr):
		return errSubjectPersonalNumber(pnr.Masked)
	case errors.As(err, &other):
		return errOtherFrom(other.Other, other.Vouched)
	case errors.As(err, &large):
		return smtp.ErrDataTooLarge
	case errors.As(err, &refusal):
		return &smtp.SMTPError{Code: refusal.Code, EnhancedCode: smtp.EnhancedCode(refusal.Enhanced), Message: refusal.Text()}
	case errors.Is(err, smtp.ErrTooLongLine):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message: fmt.Sprintf("A line of the message is longer than %d characters (rfc/5321:3494 allows 998); nothing was stored: send it with quoted-printable or base64 encoding", maxLineLength)}
	case errors.Is(err, vault.ErrBadCredentials):
		return errAuthFailed
	case errors.Is(err, vault.ErrAccountDisabled):
		return errAuthDisabled
	case errors.Is(err, vault.ErrAppPasswordRequired):
		return errAuthAppPassword
	case errors.As(err, &fault):
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "The message could not be stored safely and was not kept; try again later"}
	default:
		// Anything unforeseen is temporary: the client keeps the message.
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message: "Local error; the message was not kept, try again later"}
	}
}

// refusalKind is what a log may say about a refused recipient: the status
// code, never the address (it carries personal numbers).
func refusalKind(err error) string {
	if r, ok := reply(err).(*smtp.SMTPError); ok {
		return fmt.Sprintf("%d %d.%d.%d", r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
	}
	return "unknown"
}
