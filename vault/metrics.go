package vault

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The committer's figures. Every durable write in the process goes through
// one goroutine (commit.go), so when intake stalls these say whether it is
// the disk: a busy rate near 1 means the committer never rests, and
// commit_seconds shows what each commit (bbolt: its page writes and two
// fdatasyncs; PostgreSQL: its WAL flush) costs. requests_per_commit shows how much each commit is
// shared.
var (
	commitSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sigill_vault_commit_seconds",
		Help:    "Time of each commit of the group committer (bbolt: page writes and fdatasyncs; PostgreSQL: the WAL flush).",
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 12),
	})
	commitRequests = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "sigill_vault_requests_per_commit",
		Help:    "Write requests (accepts, notifier claims and outcomes, receipts) sharing one commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64},
	})
	commitConflicts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_vault_commit_conflicts_total",
		Help: "Groups run again because another node's transaction changed what they read (never on bbolt).",
	})
	committerBusy = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_vault_committer_busy_seconds_total",
		Help: "Time the group committer spent applying and committing; its rate near 1 means intake waits on the disk.",
	})

	// The key store's figures (keystore.go): live keys, and writes that
	// failed (a key meant to be destroyed is then still in the file until
	// the next write succeeds).
	outboxKeys = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sigill_vault_outbox_keys",
		Help: "Outbox keys in the key store: the current one, the next, and retired ones some pending job is still sealed under.",
	})
	expiryKeys = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "sigill_vault_expiry_keys",
		Help: "Expiry keys in the key store: one per hour in which some unexpired message expires.",
	})
	keyStoreWriteErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "sigill_vault_key_store_write_errors_total",
		Help: "Failed writes of the key store; until one succeeds, keys meant to be destroyed are still in its file.",
	})
)
