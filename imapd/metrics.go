package imapd

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var sessionsOpen = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "sigill_imap_sessions",
	Help: "IMAP connections open now, logged in or not.",
})
