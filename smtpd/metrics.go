package smtpd

import (
	"errors"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"sigill/addressing"
	"sigill/intake"
)

var (
	messagesAccepted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_smtp_messages_accepted_total",
		Help: "Messages committed to the vault and answered 250, by listener.",
	}, []string{"listener"})
	acceptSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sigill_smtp_accept_seconds",
		Help:    "Time from the end of DATA to the durable vault commit.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
)

// Refusals an admin alerts on: a rise in refused recipients by reason is
// usually a sender's system writing addresses wrong (no_login after a
// template change); refused messages are DLP at work or a size limit met.
var (
	recipientsRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_smtp_recipients_refused_total",
		Help: "RCPT TO refused at once, by reason (addressing's kinds: no_login, not_our_domain, bad_recipient, bad_parameter, bad_login, too_many_logins, malformed).",
	}, []string{"reason"})
	messagesRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_smtp_messages_refused_total",
		Help: "Messages refused at DATA, by reason (personal_number_in_subject, too_large, line_too_long, empty, unreadable_header).",
	}, []string{"reason"})
)

// The reason label of sigill_smtp_messages_refused_total.
const (
	refusedPersonalNumber   = "personal_number_in_subject"
	refusedTooLarge         = "too_large"
	refusedLineTooLong      = "line_too_long"
	refusedEmpty            = "empty"
	refusedUnreadableHeader = "unreadable_header"
	refusedOtherFrom        = "other_from" // logged, not a label: the policy refuses it
)

// Every reason's series exists from the start, at 0, so that an alert on
// their rate has something to compute.
func init() {
	for _, kind := range addressing.RefusalKinds {
		recipientsRefused.WithLabelValues(string(kind))
	}
	for _, reason := range []string{refusedPersonalNumber, refusedTooLarge, refusedLineTooLong, refusedEmpty, refusedUnreadableHeader} {
		messagesRefused.WithLabelValues(reason)
	}
}

func countRefusedRecipient(err error) {
	reason := "other"
	var refusal *addressing.Refusal
	if errors.As(err, &refusal) && refusal.Kind != "" {
		reason = string(refusal.Kind)
	}
	recipientsRefused.WithLabelValues(reason).Inc()
}

// refusedReason is the reason label of a message intake refused.
func refusedReason(err error) string {
	var (
		pnr    *intake.PersonalNumberError
		other  *intake.OtherFromError
		header *intake.UnreadableHeaderError
		large  *intake.TooLargeError
	)
	switch {
	case errors.Is(err, intake.ErrEmpty):
		return refusedEmpty
	case errors.As(err, &header):
		return refusedUnreadableHeader
	case errors.As(err, &pnr):
		return refusedPersonalNumber
	case errors.As(err, &large):
		return refusedTooLarge
	case errors.As(err, &other):
		return refusedOtherFrom
	}
	return "other"
}

// refusedLogLines are the log's words for a refused message, by reason.
var refusedLogLines = map[string]string{
	refusedEmpty:            "message refused: empty",
	refusedUnreadableHeader: "message refused: unreadable header",
	refusedPersonalNumber:   "message refused: personal number in subject",
	refusedTooLarge:         "message refused: too large",
	refusedOtherFrom:        "message refused: From header names another sender",
	"other":                 "message refused",
}

// countRefusedMessage counts a message intake refused. A From header
// naming another sender is a configured policy, not counted (as before).
func countRefusedMessage(err error) {
	if reason := refusedReason(err); reason != refusedOtherFrom && reason != "other" {
		messagesRefused.WithLabelValues(reason).Inc()
	}
}

// countRefusedData counts a DATA that ended in a refusal; a connection cut
// midway is no refusal and is not counted.
func countRefusedData(err error) {
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		messagesRefused.WithLabelValues(refusedTooLarge).Inc()
	case errors.Is(err, smtp.ErrTooLongLine):
		messagesRefused.WithLabelValues(refusedLineTooLong).Inc()
	}
}
