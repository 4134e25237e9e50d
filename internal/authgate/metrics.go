package authgate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// The figures of password guessing, one family for every protocol the gate
// guards, labelled by protocol ("smtp", "imap", "web": the staff web's sign-in). A rise in failures is
// guessing or a staff member's stale password in a client; throttled
// refusals are a guesser (or that client) being held off.
var (
	failures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_auth_failures_total",
		Help: "Failed staff logins (a wrong login or password), by protocol.",
	}, []string{"protocol"})
	throttled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "sigill_auth_throttled_total",
		Help: "Logins refused without checking the password because the client address had used up its failures, by protocol.",
	}, []string{"protocol"})
)

// Every protocol's series exists from the start, at 0, so that an alert on
// their rate has something to compute.
func init() {
	for _, protocol := range []string{"smtp", "imap", "web"} {
		failures.WithLabelValues(protocol)
		throttled.WithLabelValues(protocol)
	}
}

// CountFailure counts a failed login over protocol; Failed is what slows
// the address down.
func CountFailure(protocol string) { failures.WithLabelValues(protocol).Inc() }

// CountThrottled counts a login refused because Open said no.
func CountThrottled(protocol string) { throttled.WithLabelValues(protocol).Inc() }
