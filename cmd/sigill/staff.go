package main

import (
	"net/http"
)

// staffHandler serves the staff listener: the REST API under /api/v1/ and,
// once it is built, the staff web.
func staffHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404,"detail":"nothing is served here yet"}` + "\n"))
	})
	return mux
}
