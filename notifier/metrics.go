package notifier

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of a send, the result label of sigill_notifier_sends_total.
const (
	resultOK     = "ok"     // the provider took it: "notified"
	resultRetry  = "retry"  // temporary failure: tried again later
	resultFailed = "failed" // permanent failure, or max_age passed: "failed"
	resultFound  = "found"  // a job in doubt the provider already had: "notified", not sent again
)

var (
	queueDepth = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sigill_notifier_queue_depth",
		Help: "Notification jobs in the vault's outbox: due, being sent, or waiting to be retried.",
	})
	sendsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_notifier_sends_total",
		Help: "Notification attempts by provider and result (ok, retry, failed, found: a job in doubt the provider already had, withdrawn: its copy was withdrawn, not sent).",
	}, []string{"provider", "result"})
	receiptsSent = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_notifier_receipts_sent_total",
		Help: "Receipts (read notices and delivery failures, MDN/DSN) mailed to their senders.",
	})
	sendSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sigill_notifier_send_seconds",
		Help:    "Time a provider took to answer one notification, failures included.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms … 41 s
	}, []string{"provider"})
)
