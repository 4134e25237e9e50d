package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Outcomes of one webhook delivery attempt, the outcome label of
// sigill_api_webhook_attempts_total. Whether a failure is retried or given
// up is the notifier's (sigill_notifier_sends_total{provider="api_webhook"}).
const (
	attemptDelivered   = "delivered"   // a 2xx answer
	attemptHTTPError   = "http_error"  // another answer
	attemptUnreachable = "unreachable" // no answer: DNS, connect, TLS, time-out
	attemptRefused     = "refused"     // the SSRF guard refused the address
)

var (
	sent = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_api_messages_accepted_total",
		Help: "Messages committed to the vault through the REST API and answered 201.",
	})
	replayed = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_api_idempotent_replays_total",
		Help: "Sends answered from an Idempotency-Key's record instead of sending again.",
	})
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_api_requests_total",
		Help: "REST API requests by route (the pattern, e.g. \"POST /api/v1/messages\"; \"other\" for no route) and HTTP status.",
	}, []string{"route", "code"})
	webhookAttempts = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_api_webhook_attempts_total",
		Help: "Webhook delivery attempts by outcome: delivered, http_error, unreachable, refused (by the SSRF guard).",
	}, []string{"outcome"})
)

func init() {
	// Series an alert needs exist from the start.
	for _, o := range []string{attemptDelivered, attemptHTTPError, attemptUnreachable, attemptRefused} {
		webhookAttempts.WithLabelValues(o)
	}
}
