package smtpd

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
