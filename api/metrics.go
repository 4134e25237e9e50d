package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
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
)
