package intake

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"sigill/addressing"
	"sigill/vault"
)

// Rules are the parts of the configuration the rules need.
type Rules struct {
	// MaxBytes is smtp.max_message_bytes: the largest message, as MIME.
	MaxBytes int64
	// RefuseOtherFrom refuses a message whose From header names another
	// address than the vouched sender (smtp.from_header = "refuse").
	RefuseOtherFrom bool
	// DefaultErrand names a message whose Subject is empty, per language;
	// "sv" is the fallback.
	DefaultErrand map[string]string
	// DefaultLang is the errand's language when there is no recipient.
	DefaultLang string
}

// Message is a message as a door has it: who sends it, to whom, and the
// MIME bytes.
type Message struct {
	Sender     string // the envelope sender (the account, or the relay's MAIL FROM)
	Account    string // the authenticated staff account; "" through the relay
	Raw        []byte
	Recipients []vault.Recipient
}

// ErrEmpty is a message with neither header nor body.
var ErrEmpty = errors.New("the message is empty")

// TooLargeError is a message over Rules.MaxBytes.
type TooLargeError struct{ Size, Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the message is %d bytes, over the limit of %d", e.Size, e.Max)
}

// UnreadableHeaderError is a header the parser refused.
type UnreadableHeaderError struct{ Err error }

func (e *UnreadableHeaderError) Error() string { return "unreadable header: " + e.Err.Error() }
func (e *UnreadableHeaderError) Unwrap() error { return e.Err }

// PersonalNumberError is an errand that holds a personal number; Masked
// is the number as it may be repeated (19990807-****).
type PersonalNumberError struct{ Masked string }

func (e *PersonalNumberError) Error() string {
	return "the subject holds a personal identity number (" + e.Masked + ")"
}

// OtherFromError is a From header naming Other, where the gateway vouches
// only for Vouched.
type OtherFromError struct{ Other, Vouched string }

func (e *OtherFromError) Error() string {
	return fmt.Sprintf("the From header names %s, not the vouched sender %s", e.Other, e.Vouched)
}

// CheckErrand refuses a subject with a personal number in it: the errand
// travels in clear by SMS and e-mail.
func CheckErrand(subject string) error {
	if masked, found := addressing.FindPersonalNumber(subject); found {
		return &PersonalNumberError{Masked: masked}
	}
	return nil
}

// CheckSize refuses a message of size bytes (as MIME) over MaxBytes, with
// a *TooLargeError: the one limit for what comes in by SMTP or the API and
// for a recipient's reply from the reader's page.
func (r Rules) CheckSize(size int64) error {
	if r.MaxBytes > 0 && size > r.MaxBytes {
		return &TooLargeError{Size: size, Max: r.MaxBytes}
	}
	return nil
}

// Incoming checks m against the rules and makes it what the vault
// accepts, errand and Message-ID read from its header.
func (r Rules) Incoming(m Message) (vault.Incoming, error) {
	if len(bytes.TrimSpace(m.Raw)) == 0 {
		return vault.Incoming{}, ErrEmpty
	}
	if err := r.CheckSize(int64(len(m.Raw))); err != nil {
		return vault.Incoming{}, err
	}
	head, err := readHead(m.Raw)
	if err != nil {
		return vault.Incoming{}, &UnreadableHeaderError{Err: err}
	}
	if err := CheckErrand(head.subject); err != nil {
		return vault.Incoming{}, err
	}
	// The sender is shown to every recipient: SMTP checks it at MAIL FROM,
	// the API and the staff web send as the account, and meet it here.
	if err := CheckSender(m.Sender); err != nil {
		return vault.Incoming{}, err
	}
	if r.RefuseOtherFrom {
		vouched := vault.VouchedSender(m.Account, m.Sender)
		if other := head.otherFrom(vouched); other != "" {
			return vault.Incoming{}, &OtherFromError{Other: other, Vouched: vouched}
		}
	}
	errand := head.subject
	if strings.TrimSpace(errand) == "" {
		errand = r.defaultErrand(m.Recipients)
	}
	return vault.Incoming{
		Sender:     m.Sender,
		Account:    m.Account,
		Errand:     errand,
		MessageID:  head.messageID,
		Raw:        m.Raw,
		Recipients: m.Recipients,
	}, nil
}

func (r Rules) defaultErrand(rs []vault.Recipient) string {
	lang := r.DefaultLang
	if len(rs) > 0 {
		lang = rs[0].Lang
	}
	if e := r.DefaultErrand[lang]; e != "" {
		return e
	}
	return r.DefaultErrand["sv"]
}

// Recipients collects a message's recipients as they are written, one
// entry per canonical local part: the same person written twice gets one
// copy.
type Recipients struct {
	list []vault.Recipient
	seen map[string]bool
}

// Add adds a recipient, parsed from address, unless it is already there.
func (rs *Recipients) Add(address string, r addressing.Recipient) {
	key := r.LocalPart()
	if rs.seen == nil {
		rs.seen = map[string]bool{}
	}
	if !rs.seen[key] {
		rs.seen[key] = true
		rs.list = append(rs.list, vault.Recipient{Address: address, Recipient: r})
	}
}

// List is the recipients in the order they were first added.
func (rs *Recipients) List() []vault.Recipient { return rs.list }
