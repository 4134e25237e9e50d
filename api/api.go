package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/audit"
	"sigill/intake"
	"sigill/internal/egress"
	"sigill/receipts/mailbox"
	"sigill/vault"
	"sigill/vault/sentindex"
)

// Options is what the API needs from the configuration and the other
// packages.
type Options struct {
	Vault *vault.Vault // opened with Server.Hook and Keys' Hook
	Keys  *apikey.Store
	// Audit answers the administrators' routes (audit:read, gdpr:admin);
	// TwoPerson is gdpr.two_person. Without Audit they answer 503.
	Audit     *audit.Store
	TwoPerson bool
	// Replies opens the recipients' answers for GET
	// /api/v1/messages/{id}/replies; without it that route answers 503.
	Replies *mailbox.Store
	// Policy reads recipients (the addressing rules SMTP's RCPT uses);
	// Rules are intake's, the same as SMTP's DATA.
	Policy        addressing.Policy
	Rules         intake.Rules
	MaxRecipients int    // smtp.max_recipients
	Hostname      string // the right side of the Message-IDs of built messages
	// Rate and Burst limit each API key's requests (a token bucket: Burst
	// at once, then Rate a second). Zero: 10 a second, 50 at once. A key
	// made with its own rate (apikey.WithRate) gets that rate, and a burst
	// of five seconds' worth when that is more than Burst.
	Rate  rate.Limit
	Burst int
	// Accepted, when set, is called after a message is stored that left
	// notifications for a claim (vault.Accepted.Claimable), so the
	// notifier sends at once.
	Accepted func()
	// Egress is the SSRF guard webhook URLs are checked with when they are
	// registered (api.webhook_allow; sigill dev: loopback too), the same
	// the Deliverer connects through. Nil: webhooks are refused.
	Egress *egress.Guard
	// PlainHTTPWebhooks takes http:// webhook URLs to any host the guard
	// lets through (sigill dev); otherwise only to hosts Egress allows by
	// name or network.
	PlainHTTPWebhooks bool
	Logger            *slog.Logger
}

// Server is the REST API.
type Server struct {
	o        Options
	mu       sync.Mutex
	inFlight map[string]bool          // API key id ‖ 0 ‖ Idempotency-Key of sends under way
	limiters map[string]*rate.Limiter // by API key id
}

// New makes the API; Hook must be among the vault's hooks.
func New(o Options) *Server {
	if o.Rate == 0 {
		o.Rate, o.Burst = 10, 50
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{o: o, inFlight: map[string]bool{}, limiters: map[string]*rate.Limiter{}}
}

const (
	tableIdempotency = "api_idempotency"
	tableMessages    = "api_messages"
)

var tables = []string{tableIdempotency, tableMessages, tableWebhooks}

// readTables are what reading and sending open: the API's own and the sent
// index's (sentindex), whose hook files every message under its owner.
var readTables = append(append([]string{}, tables...), sentindex.Tables...)

// Hook declares the API's tables to the vault, queues its webhook
// deliveries, removes a message's records when its audit trail goes, and
// takes an erased number out of the answers it keeps. Every vault the API
// runs on, and every command that opens one, opens it with Hook and
// sentindex.Hook (which keeps the indexes the reading routes use).
func Hook() vault.Hook {
	return vault.Hook{Name: "rest api", Tables: tables, Appended: eventAppended, Purging: purgeRecords, Erasing: eraseNumber}
}

//go:embed openapi.json
var openAPIDocument []byte

// Handler serves /api/v1/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDocument)
	})
	mux.Handle("POST /api/v1/messages", s.authorized(apikey.ScopeSend, s.send))
	mux.Handle("GET /api/v1/messages", s.authorized(apikey.ScopeRead, s.listMessages))
	mux.Handle("GET /api/v1/messages/{id}", s.authorized(apikey.ScopeRead, s.getMessage))
	mux.Handle("POST /api/v1/messages/{id}/revoke", s.authorized(apikey.ScopeRevoke, s.revoke))
	mux.Handle("PUT /api/v1/messages/{id}/expiry", s.authorized(apikey.ScopeRevoke, s.setExpiry))
	mux.Handle("GET /api/v1/messages/{id}/replies", s.authorized(apikey.ScopeRead, s.listReplies))
	mux.Handle("GET /api/v1/events", s.authorized(apikey.ScopeEvents, s.listEvents))
	mux.Handle("POST /api/v1/webhooks", s.authorized(apikey.ScopeEvents, s.createWebhook))
	mux.Handle("GET /api/v1/webhooks", s.authorized(apikey.ScopeEvents, s.listWebhooks))
	mux.Handle("DELETE /api/v1/webhooks/{id}", s.authorized(apikey.ScopeEvents, s.deleteWebhook))
	mux.Handle("POST /api/v1/webhooks/{id}/rotate", s.authorized(apikey.ScopeEvents, s.rotateWebhook))
	mux.Handle("GET /api/v1/audit", s.authorized(apikey.ScopeAudit, s.getAudit))
	mux.Handle("POST /api/v1/gdpr/export", s.authorized(apikey.ScopeGDPR, s.gdprExport))
	mux.Handle("GET /api/v1/gdpr/erasures", s.authorized(apikey.ScopeGDPR, s.gdprRequests))
	mux.Handle("POST /api/v1/gdpr/erasures", s.authorized(apikey.ScopeGDPR, s.gdprErase))
	mux.Handle("POST /api/v1/gdpr/erasures/{id}/approve", s.authorized(apikey.ScopeGDPR, s.gdprApprove))
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not-found", "no such route; GET /api/v1/openapi.json lists them")
	})
	return counted(mux)
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// counted counts each request by its route (the mux's pattern, which it
// sets on the request it routes) and status.
func counted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" || route == "/api/v1/" {
			route = "other"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
	})
}

type keyContext struct{}

// keyOf is the API key a request was authenticated with.
func keyOf(r *http.Request) apikey.Key { return r.Context().Value(keyContext{}).(apikey.Key) }

// authorized lets a request through with a live key holding scope, within
// the key's rate.
func (s *Server) authorized(scope string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sigill"`)
			writeProblem(w, http.StatusUnauthorized, "unauthenticated", "no API key: send it as Authorization: Bearer <key> (sigill apikey create makes one)")
			return
		}
		key, err := s.o.Keys.Authenticate(strings.TrimSpace(bearer))
		if errors.Is(err, apikey.ErrUnknownKey) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sigill", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "unauthenticated", "the API key is unknown, revoked, or its account is gone; ask an administrator for a new one")
			return
		}
		if err != nil {
			s.o.Logger.Error("api: a key could not be checked", "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the key could not be checked; try again shortly")
			return
		}
		if !key.Allows(scope) {
			writeProblem(w, http.StatusForbidden, "forbidden", "this API key lacks the scope "+scope+"; make one with it (sigill apikey create -scopes)")
			return
		}
		if wait := s.take(key); wait > 0 {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeProblem(w, http.StatusTooManyRequests, "rate-limited", fmt.Sprintf("too many requests with this API key; try again in %d s (Retry-After)", secs))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), keyContext{}, key)))
	})
}

// take spends one of the key's tokens; when there is none, it spends
// nothing and says how long until there is.
func (s *Server) take(key apikey.Key) time.Duration {
	s.mu.Lock()
	l := s.limiters[key.ID]
	if l == nil {
		perSecond, burst := s.o.Rate, s.o.Burst
		if key.Rate > 0 {
			perSecond, burst = rate.Limit(key.Rate), max(burst, int(5*key.Rate))
		}
		l = rate.NewLimiter(perSecond, burst)
		s.limiters[key.ID] = l
	}
	s.mu.Unlock()
	now := time.Now()
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return time.Hour
	}
	wait := res.DelayFrom(now)
	if wait > 0 {
		res.CancelAt(now)
	}
	return wait
}

// now is the time a built message is dated.
func now() time.Time { return time.Now().UTC() }
