package notifier

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"sigill/config"
)

// SMS is one text message as a provider gets it.
type SMS struct {
	To             string // E.164, e.g. +46701234567
	From           string // organisation.sms_sender: alphanumeric id or E.164
	Text           string // SMSText: organisation and vouched sender, errand, link
	IdempotencyKey string // the same for every attempt at one job
	ReportURL      string // where delivery reports go; "" asks for none
}

// SMSProvider sends text messages. Send returns the provider's id for the
// message (which its delivery reports name), or an error; an error wrapped
// with Permanent means that trying again cannot help (the job fails at once),
// any other error is retried with backoff until notifier.max_age.
//
// The errors this package's providers call permanent are the provider's
// refusals of the message itself: HTTP 400, 413 and 422. Everything else —
// network faults, time-outs, 429, 5xx, and also 401, 403 and 404, which are
// configuration faults an operator can mend while the jobs wait — is
// temporary.
type SMSProvider interface {
	Name() string
	Send(ctx context.Context, m SMS) (providerID string, err error)
}

// Reconciler is implemented by providers that keep a log of the messages
// they took and let sigill search it. Before a job in doubt
// (vault.Job.InDoubtSince: a claim of it ended in a crash or a lost lease,
// so a send may have reached the provider unrecorded) is sent again, the
// notifier looks it up; a message the provider has is recorded as notified
// under the provider's id and not sent again. Providers that cannot tell get
// the job again, with its idempotency key.
//
// Lookup searches for m (matched on its recipient and whole text, which
// holds the job's link, so a match is that job's message and no other)
// among the messages taken at or after since. found is false, with a nil
// error, when the provider has no record of it. An error wrapped with
// Permanent means that asking again cannot help.
type Reconciler interface {
	Lookup(ctx context.Context, m SMS, since time.Time) (sent SentSMS, found bool, err error)
}

// SentSMS is a provider's record of a message it took.
type SentSMS struct {
	ID string // the provider's id, as Send returns it
	// Status is what the provider last heard of it, in the notifier's
	// words (the provider maps its own); At is when it was delivered or
	// failed, if the provider says.
	Status DeliveryStatus
	At     time.Time
}

// DeliveryStatus is what a provider heard of a message it took, in the
// notifier's words ("sent", "delivered", "failed"), which the webhook's
// contract uses too (ParseDeliveryStatus); a provider with words of its own
// maps them (46elks' "created", "sent", "delivered", "failed": elksStatus).
type DeliveryStatus int

const (
	StatusUnknown   DeliveryStatus = iota // a word the notifier does not know: changes nothing
	StatusSent                            // taken, or handed to the carrier: changes nothing
	StatusDelivered                       // the phone has it: a "delivered" event
	StatusFailed                          // the carrier gave up: a "failed" event
)

var statusWords = map[DeliveryStatus]string{StatusSent: "sent", StatusDelivered: "delivered", StatusFailed: "failed"}

func (s DeliveryStatus) String() string {
	if w, ok := statusWords[s]; ok {
		return w
	}
	return "unknown"
}

// ParseDeliveryStatus reads the notifier's own word for a status;
// StatusUnknown for any other.
func ParseDeliveryStatus(word string) DeliveryStatus {
	for s, w := range statusWords {
		if w == word {
			return s
		}
	}
	return StatusUnknown
}

// Final reports whether s is an outcome (delivered or failed) rather than
// news on the way.
func (s DeliveryStatus) Final() bool { return s == StatusDelivered || s == StatusFailed }

// DeliveryReport is one delivery report as its provider parsed it.
type DeliveryReport struct {
	ID     string         // the provider's id, as Send returned it
	Status DeliveryStatus // StatusUnknown for a word the provider does not map
	Word   string         // the provider's own word for the status, for the log
	At     time.Time      // when it happened, if the provider says; zero: now
}

// ReportParser is implemented by providers that post delivery reports to
// the notifier (POST /hooks/sms, see Notifier.ReportHandler). ParseReport
// checks that the request comes from the provider (a key, a signature) and
// reads it; body is the request's body, already read and bounded. Its
// errors are ErrReportForbidden, ErrReportMediaType or ErrReportMalformed
// (wrapped), which the handler answers with 403, 415 and 400. A provider
// without it (the dev log provider wrapping nothing) takes no reports: 404.
type ReportParser interface {
	Name() string
	ParseReport(r *http.Request, body []byte) (DeliveryReport, error)
}

// The refusals of a delivery report, as ReportParser returns them.
var (
	ErrReportForbidden = errors.New("delivery report not from the provider")
	ErrReportMediaType = errors.New("delivery report of a media type the provider does not post")
	ErrReportMalformed = errors.New("malformed delivery report")
)

// capability finds what p can do, as T: p itself, or a provider it wraps
// (a decorator's Unwrap, as the log provider's), the outermost first.
func capability[T any](p any) (T, bool) {
	for p != nil {
		if t, ok := p.(T); ok {
			return t, true
		}
		switch w := p.(type) {
		case interface{ Unwrap() SMSProvider }:
			if inner := w.Unwrap(); inner != nil {
				p = inner
				continue
			}
		case interface{ Unwrap() MailSender }:
			if inner := w.Unwrap(); inner != nil {
				p = inner
				continue
			}
		}
		break
	}
	var zero T
	return zero, false
}

// Checker is implemented by providers that can tell whether they are
// reachable without sending anything (readiness, see Notifier.Checks).
type Checker interface {
	Check(ctx context.Context) error
}

// Mail is one notification e-mail, built by the notifier.
type Mail struct {
	To       string // the recipient's address
	From     string // envelope sender (notifier.email.from)
	HeaderID string // the Message-ID header without <>: the provider id recorded
	MIME     []byte // the whole message, CRLF lines
}

// Origin is what a send is for: the job's message and link, and the
// plain-text part of an e-mail. Providers send only their wire fields; a
// decorator that keeps a record of sends (the dev log provider) reads the
// origin from the send's context (OriginFrom), which the notifier sets.
type Origin struct {
	MessageID string // the vault's message id
	Link      string // "" for a receipt
	Text      string // an e-mail's plain-text part; an SMS's text is SMS.Text
}

type originKey struct{}

// WithOrigin returns ctx carrying o, for the providers of one send.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin WithOrigin put in ctx.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok
}

// MailSender sends notification e-mails: SMTPSender through the smarthost,
// or the log provider's mail side (LogProvider.Mail) in dev. Errors are classified as for SMSProvider.
type MailSender interface {
	Name() string
	SendMail(ctx context.Context, m *Mail) (providerID string, err error)
}

// PermanentError marks a failure that retrying cannot mend.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// InDoubtError marks a failure after which the provider may have the
// message all the same: the request was written whole, and no answer, or no
// usable one, came back (a time-out, a broken connection, a 2xx without an
// id). The notifier retries it as any temporary failure, and marks the job
// in doubt, so that the next attempt asks a Reconciler first.
type InDoubtError struct{ Err error }

func (e *InDoubtError) Error() string { return e.Err.Error() }
func (e *InDoubtError) Unwrap() error { return e.Err }

// InDoubt marks err as in doubt (nil stays nil).
func InDoubt(err error) error {
	if err == nil {
		return nil
	}
	return &InDoubtError{Err: err}
}

// IsInDoubt reports whether err, or an error it wraps, is in doubt.
func IsInDoubt(err error) bool {
	var d *InDoubtError
	return errors.As(err, &d)
}

// statusError turns a provider's unsuccessful HTTP answer into an error
// classified as SMSProvider describes.
func statusError(provider string, code int, body []byte) error {
	err := fmt.Errorf("%s: HTTP %d %s", provider, code, snippet(body))
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return Permanent(err)
	}
	return err
}

// snippet is the start of a provider's answer, for a reason or a log line:
// one line, printable, at most 120 characters.
func snippet(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, string(b))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "..."
	}
	return s
}

// newHTTPClient is the providers' client: connections kept for many
// workers, no redirects (a POST with credentials goes where configured or
// nowhere), and no overall timeout (each send's context has one).
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewSMSProvider builds the provider notifier.sms names: "46elks" (Elks),
// "webhook" (Webhook, whose HMAC secret is the password file's content) or
// "log" (LogProvider writing into dataDir, for sigill dev).
func NewSMSProvider(cfg config.SMS, dataDir string) (SMSProvider, error) {
	switch cfg.Provider {
	case "46elks":
		return NewElks(ElksOptions{URL: cfg.URL, Username: cfg.Username, Password: cfg.Password})
	case "webhook":
		return NewWebhook(WebhookOptions{URL: cfg.URL, Secret: []byte(strings.TrimSpace(cfg.Password))})
	case "log":
		return NewLogProvider(dataDir)
	}
	return nil, fmt.Errorf("notifier.sms.provider: %q is not a provider; write \"46elks\", \"webhook\" or \"log\"", cfg.Provider)
}
