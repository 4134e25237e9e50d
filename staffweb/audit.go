package staffweb

import (
	"context"
	"net/http"

	"sigill/audit"
)

// record writes what a person did on the staff web to the audit trail,
// with the request's address and user agent; a record that cannot be
// written is logged, and what was done stands. actor is an account, or
// for a refused sign-in the login as vault.LoggableLogin names it.
func (s *Server) record(r *http.Request, actor, action, target, detail string) {
	if s.opt.Audit == nil {
		return
	}
	err := s.opt.Audit.RecordStaffAudit(context.WithoutCancel(r.Context()), audit.StaffAudit{
		Actor: actor, Action: action, Target: target, Detail: "staff web: " + detail,
		IP: clientIP(r).String(), UserAgent: audit.UserAgent(r.Header.Get("User-Agent")),
	})
	if err != nil {
		s.opt.Logger.Error("staffweb: recording in the audit trail", "action", action, "err", err)
	}
}
