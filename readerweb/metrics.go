package readerweb

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sigill/bankid"
)

// The reader's figures an admin alerts on: BankID orders that fail (by
// BankID's hint code: a rise in startFailed or certificateErr is BankID's or
// the app's trouble, not the recipients'), denials (someone tried to open a
// message meant for another), opens, and the pages' answers by status (a
// rise in 429 is the rate limit at work, in 5xx the vault).
var (
	ordersStarted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_bankid_orders_started_total",
		Help: "BankID orders started from the reader page.",
	})
	ordersEnded = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_bankid_orders_total",
		Help: "BankID orders that ended, by outcome (complete, failed, cancelled, error) and, for failed ones, BankID's hint code.",
	}, []string{"outcome", "hint"})
	ordersTakenOver = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_bankid_orders_taken_over_total",
		Help: "Pending BankID orders this node took over from a node whose heartbeat went stale (it died or lost the store).",
	})
	opens = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_reader_opens_total",
		Help: "Messages opened: an allowed person identified with BankID, and opened recorded.",
	})
	denials = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_reader_denials_total",
		Help: "BankID identifications refused at a message, by reason (not_allowed: not one of its logins; risk_high: BankID judged the identification risky).",
	}, []string{"reason"})
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_reader_requests_total",
		Help: "Requests to the reader's listener, by HTTP status code.",
	}, []string{"code"})
)

// The outcome label of sigill_bankid_orders_total.
const (
	orderComplete  = "complete"  // BankID identified someone (allowed or denied)
	orderFailed    = "failed"    // BankID ended it; hint says why (userCancel, expiredTransaction, startFailed, …)
	orderCancelled = "cancelled" // sigill cancelled it: the reader's cancel, a new order, or nobody following it
	orderError     = "error"     // collect kept failing; the order was given up
)

// The series an alert needs exist from the start, at 0.
func init() {
	for _, outcome := range []string{orderComplete, orderCancelled, orderError} {
		ordersEnded.WithLabelValues(outcome, "")
	}
	for _, reason := range []string{"not_allowed", "risk_high"} {
		denials.WithLabelValues(reason)
	}
}

func countOrderEnd(outcome string, hint bankid.HintCode) {
	ordersEnded.WithLabelValues(outcome, string(hint)).Inc()
}

func countRequests(h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(requests, h)
}
