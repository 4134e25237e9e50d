package api

import (
	"encoding/json"
	"net/http"
)

// fieldError is one invalid field of a request: field in the request's
// own spelling ("recipients[0].logins[1]").
type fieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// problem is an RFC 9457 problem detail.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors,omitempty"`
}

// problemType is where the kinds of problem are described: the OpenAPI
// document's Problem schema lists them.
const problemType = "urn:sigill:problem:"

// writeProblem answers a problem; kind is the last part of its type URI.
func writeProblem(w http.ResponseWriter, status int, kind, detail string, errs ...fieldError) {
	p := problem{Type: problemType + kind, Title: http.StatusText(status), Status: status, Detail: detail, Errors: errs}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "internal", "the answer could not be encoded")
		return
	}
	writeRaw(w, status, append(b, '\n'))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}
