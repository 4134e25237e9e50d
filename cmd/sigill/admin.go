package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"sigill/vault"
)

// adminHandler serves the admin listener: Prometheus metrics, a health
// check, CPU and heap profiles, and the vault's stats and hot backup for `sigill vault`. The vault
// routes answer loopback peers only, whatever address admin.listen names.
func adminHandler(v *vault.Vault) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Stats(); err != nil {
			http.Error(w, "vault: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /vault/stats", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		st, err := v.Stats()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	}))
	// Profiles, for the figures in BENCHMARKS.md: loopback only, like the vault.
	mux.Handle("/debug/pprof/", loopbackOnly(pprof.Index))
	mux.Handle("/debug/pprof/profile", loopbackOnly(pprof.Profile))
	mux.Handle("GET /vault/backup", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		v.Backup(w) // a failure midway cuts the stream; the CLI verifies what it got
	}))
	return mux
}

func loopbackOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			http.Error(w, "only from this machine", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}
