package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/audit"
	"sigill/vault"
)

// The administrators' routes: the audit trail (audit:read) and a data
// subject's requests (gdpr:admin), answered by package audit as the CLI's
// are. Personal numbers travel in bodies where the route changes
// something, and in the audit route's query (pnr), which no log of
// sigill's writes.

// actor names the key's account (and the key) in the staff records.
func actor(k apikey.Key) string { return k.Account + " (apikey " + k.ID + ")" }

// parseNumberField reads a personal number (12 or 10 digits, - or +).
func parseNumberField(field, s string) (string, *fieldError) {
	n, err := addressing.ParsePersonalNumber(s, time.Now())
	if err != nil {
		return "", &fieldError{Field: field, Detail: "is not a personal number: " + err.Error()}
	}
	return n, nil
}

// parseAuditQuery reads GET /api/v1/audit's query: since and until (RFC
// 3339) and pnr (a personal number as people write one), every fault
// named.
func parseAuditQuery(q url.Values) (audit.Filter, []fieldError) {
	var (
		f      audit.Filter
		faults []fieldError
	)
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				faults = append(faults, fieldError{Field: p.name, Detail: "is not an RFC 3339 time (2026-12-01T00:00:00Z)"})
			}
			*p.to = t
		}
	}
	if v := q.Get("pnr"); v != "" {
		n, fault := parseNumberField("pnr", v)
		if fault != nil {
			faults = append(faults, *fault)
		}
		f.PersonalNumber = n
	}
	return f, faults
}

type auditAnswer struct {
	Entries []audit.Entry `json:"entries"`
}

func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the audit trail is not wired to this API")
		return
	}
	f, faults := parseAuditQuery(r.URL.Query())
	if len(faults) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the query has faults", faults...)
		return
	}
	entries, err := s.o.Audit.Export(r.Context(), f, actor(keyOf(r)))
	if err != nil {
		s.unavailable(w, "the audit trail", err)
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, auditAnswer{Entries: entries})
}

// personRequest is the body of the GDPR routes.
type personRequest struct {
	PersonalNumber string `json:"personal_number"`
}

func (s *Server) readPerson(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.o.Audit == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the GDPR requests are not wired to this API")
		return "", false
	}
	var req personRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, "bad-request", "the body is not JSON: {\"personal_number\": \"199908072391\"}")
		return "", false
	}
	n, fault := parseNumberField("personal_number", req.PersonalNumber)
	if fault != nil {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid", "the body has faults", *fault)
		return "", false
	}
	return n, true
}

func (s *Server) gdprExport(w http.ResponseWriter, r *http.Request) {
	pnr, ok := s.readPerson(w, r)
	if !ok {
		return
	}
	exp, err := s.o.Audit.ExportPerson(r.Context(), pnr, actor(keyOf(r)))
	if err != nil {
		s.unavailable(w, "the GDPR export", err)
		return
	}
	writeJSON(w, http.StatusOK, exp)
}

func (s *Server) gdprErase(w http.ResponseWriter, r *http.Request) {
	pnr, ok := s.readPerson(w, r)
	if !ok {
		return
	}
	req, err := s.o.Audit.RequestErasure(r.Context(), pnr, keyOf(r).Account, s.o.TwoPerson) // the account: two-person approval compares accounts
	if err != nil {
		s.unavailable(w, "the erasure", err)
		return
	}
	status := http.StatusOK
	if req.Pending() {
		status = http.StatusAccepted
	}
	writeJSON(w, status, req)
}

func (s *Server) gdprApprove(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the GDPR requests are not wired to this API")
		return
	}
	req, err := s.o.Audit.ApproveErasure(r.Context(), r.PathValue("id"), keyOf(r).Account)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		writeProblem(w, http.StatusNotFound, "not-found", "no erasure request with that id (GET /api/v1/gdpr/erasures lists them)")
	case errors.Is(err, audit.ErrSameApprover):
		writeProblem(w, http.StatusConflict, "conflict", "another administrator's account must approve the erasure than the one that asked for it")
	case errors.Is(err, audit.ErrDone):
		writeProblem(w, http.StatusConflict, "conflict", "the erasure has been carried out already")
	case err != nil:
		s.unavailable(w, "the erasure", err)
	default:
		writeJSON(w, http.StatusOK, req)
	}
}

func (s *Server) gdprRequests(w http.ResponseWriter, r *http.Request) {
	if s.o.Audit == nil {
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "the GDPR requests are not wired to this API")
		return
	}
	list, err := s.o.Audit.ErasureRequests()
	if err != nil {
		s.unavailable(w, "the erasure requests", err)
		return
	}
	if list == nil {
		list = []audit.ErasureRequest{}
	}
	writeJSON(w, http.StatusOK, struct {
		Erasures []audit.ErasureRequest `json:"erasures"`
	}{list})
}

func (s *Server) unavailable(w http.ResponseWriter, what string, err error) {
	s.o.Logger.Error("api: "+what+" failed", "err", err)
	writeProblem(w, http.StatusServiceUnavailable, "unavailable", what+" could not be read or written; try again shortly")
}
