package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"sigill/bankid"
	"sigill/notifier"
	"sigill/vault"
)

// How /readyz checks: each dependency within readyTimeout, all at once, and
// the answer kept for readyCacheFor so that a scrape every second (or a
// load balancer per node) does not knock on BankID's and the providers'
// doors every second.
const (
	readyTimeout  = 3 * time.Second
	readyCacheFor = 5 * time.Second
)

var dependencyUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
	Name: "sigill_dependency_up",
	Help: "1 when the dependency answered /readyz's last check, 0 when it did not (store, bankid, sms, smarthost).",
}, []string{"dependency"})

// readiness is /readyz: whether the gateway can do its work now, which
// /healthz (is the process alive) does not say. It checks what the gateway
// depends on, each by the least that proves it reachable: the store (a read
// transaction), BankID (a TLS handshake with the RP API), the SMS provider
// (an HTTP HEAD, nothing sent) and the smarthost (connect, STARTTLS, EHLO,
// QUIT). It answers 200, or 503 naming the failed ones, with a JSON body.
type readiness struct {
	checks map[string]func(context.Context) error

	mu   sync.Mutex // held while checking: concurrent scrapes share one round
	at   time.Time
	last readyReport
}

type readyReport struct {
	Ready     bool          `json:"ready"`
	Failed    []string      `json:"failed"`
	Checks    []checkResult `json:"checks"`
	CheckedAt time.Time     `json:"checked_at"`
}

type checkResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func newReadiness(checks map[string]func(context.Context) error) *readiness {
	return &readiness{checks: checks}
}

func (r *readiness) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	report := r.report(req.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !report.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(report)
}

func (r *readiness) report(ctx context.Context) readyReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheFor {
		return r.last
	}
	// The round is the gateway's, not the asker's: a scrape that gives up
	// does not leave the next one a half-done answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	results := make(chan checkResult, len(r.checks))
	for name, check := range r.checks {
		go func() {
			done := make(chan error, 1)
			go func() { done <- check(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = fmt.Errorf("no answer within %v", readyTimeout)
			}
			res := checkResult{Name: name, OK: err == nil}
			if err != nil {
				res.Error = err.Error()
			}
			results <- res
		}()
	}
	report := readyReport{Ready: true, Failed: []string{}, Checks: []checkResult{}}
	for range r.checks {
		res := <-results
		report.Checks = append(report.Checks, res)
		up := 1.0
		if !res.OK {
			report.Ready = false
			report.Failed = append(report.Failed, res.Name)
			up = 0
		}
		dependencyUp.WithLabelValues(res.Name).Set(up)
	}
	slices.SortFunc(report.Checks, func(a, b checkResult) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(report.Failed)
	report.CheckedAt = time.Now().UTC()
	r.at, r.last = time.Now(), report
	return report
}

// withReadyz adds /readyz to the admin listener's routes.
func withReadyz(admin http.Handler, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", ready)
	mux.Handle("/", admin)
	return mux
}

// readinessChecks names what /readyz checks: the store and BankID always,
// and whatever the notifier sends through that can be reached.
func readinessChecks(v *vault.Vault, bankID *bankid.Client, n *notifier.Notifier) map[string]func(context.Context) error {
	checks := n.Checks()
	checks["store"] = func(context.Context) error { return v.Ping() }
	checks["bankid"] = bankID.Ping
	return checks
}
