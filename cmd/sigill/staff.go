package main

import (
	"net/http"

	"sigill/api"
	"sigill/staffweb"
)

// staffHandler serves the staff listener: the REST API under /api/v1/ and
// the staff web everywhere else.
func staffHandler(o api.Options, web *staffweb.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api.New(o).Handler())
	mux.Handle("/", web.Handler())
	return mux
}
