package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sigill/apikey"
	"sigill/audit"
	"sigill/vault"
)

// adminHandler serves the admin listener. /metrics and /healthz are open to
// whoever may reach admin.listen. Everything else (profiles, the vault's
// stats and hot backup, staff accounts, a message's expiry, API keys, the
// audit export and GDPR requests)
// answers only loopback peers that present the admin token: the daemon
// writes it beside the vault, readable by the vault's owner alone, so these
// routes give no one more than the vault file itself would.
func adminHandler(v *vault.Vault, keys *apikey.Store, trail *audit.Store, twoPerson bool, token string) http.Handler {
	accounts := func(r *http.Request) accountStore {
		return auditedAccounts{accountStore: v, trail: trail, actor: actorOf(r)}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := v.Ping(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	private := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, privileged(token, h)) }
	private("/debug/pprof/", pprof.Index)
	private("/debug/pprof/profile", pprof.Profile)
	private("GET /vault/stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := v.Stats()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, st)
	})
	private("GET /vault/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		v.Backup(w) // a failure midway cuts the stream; the CLI verifies what it got
	})
	private("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		accounts, err := v.Accounts()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, accounts)
	})
	private("POST /accounts/{address}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, accounts(r).AddAccount(r.PathValue("address"), readSecret(r)))
	})
	private("PUT /accounts/{address}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, accounts(r).SetPassword(r.PathValue("address"), readSecret(r)))
	})
	private("DELETE /accounts/{address}", func(w http.ResponseWriter, r *http.Request) {
		answer(w, accounts(r).RemoveAccount(r.PathValue("address")))
	})
	private("PUT /messages/{id}/expiry", serveSetExpiry(v))
	private("POST /messages/{id}/revoke", serveRevoke(v))
	accountRoutes(private, v, trail)
	apiKeyRoutes(private, keys, trail)
	auditRoutes(private, v, trail, twoPerson)
	return mux
}

func privileged(token string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			http.Error(w, "only from this machine", http.StatusForbidden)
			return
		}
		given := r.Header.Get("Authorization")
		if subtle.ConstantTimeCompare([]byte(given), []byte("Bearer "+token)) != 1 {
			http.Error(w, "the admin token is missing or wrong", http.StatusUnauthorized)
			return
		}
		h(w, r)
	})
}

// The status codes the CLI turns back into vault's errors.
func answer(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, vault.ErrExists):
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, vault.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	default:
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

func readSecret(r *http.Request) string {
	var body struct{ Password string }
	json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&body)
	return body.Password
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
