package main

import (
	"net/http"

	"sigill/api"
)

// staffHandler serves the staff listener: the REST API under /api/v1/ and,
// once it is built, the staff web.
func staffHandler(o api.Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api.New(o).Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404,"detail":"the staff web is not built yet; the REST API is under /api/v1/"}` + "\n"))
	})
	return mux
}
