package api

import (
	"context"
	"slices"
	"testing"

	"sigill/apikey"
	"sigill/audit"
	"sigill/vault"
)

func withAudit(t *testing.T, twoPerson bool) *env {
	t.Helper()
	trail := audit.New(0)
	return newEnv(t, func(o *Options) {
		if err := trail.Attach(o.Vault); err != nil {
			t.Fatal(err)
		}
		o.Audit, o.TwoPerson = trail, twoPerson
	}, trail.Hook())
}

// GET /api/v1/audit with audit:read: both opens of a number, with their
// user agents; the export is itself in the next one; faults are 422 and
// a key without the scope 403.
func TestAuditRoute(t *testing.T) {
	e := withAudit(t, false)
	m := e.sent("k-1", "journal-1")
	for _, ua := range []string{"Firefox/1", "Safari/2"} {
		if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson", IP: "127.0.0.1", UserAgent: ua}); err != nil {
			t.Fatal(err)
		}
	}
	key := e.key(apikey.ScopeAudit)
	a := e.do("GET", "/api/v1/audit?pnr=19990807-2391&since=2000-01-01T00:00:00Z", key, "", nil)
	var got auditAnswer
	a.json(t, &got)
	var agents []string
	for _, en := range got.Entries {
		if en.Action == "opened" && en.PersonalNumber == "199908072391" {
			agents = append(agents, en.UserAgent)
		}
	}
	if a.status != 200 || !slices.Equal(agents, []string{"Firefox/1", "Safari/2"}) {
		t.Errorf("GET /api/v1/audit: %d, opens by %q\n%s", a.status, agents, a.body)
	}
	a = e.do("GET", "/api/v1/audit", key, "", nil)
	a.json(t, &got)
	if !slices.ContainsFunc(got.Entries, func(en audit.Entry) bool { return en.Action == audit.ActionAuditExport && en.Source == "staff" }) {
		t.Errorf("the first export is not in the second: %s", a.body)
	}
	if a := e.do("GET", "/api/v1/audit?since=yesterday&pnr=123", key, "", nil); a.status != 422 || len(a.problem(t).Errors) != 2 {
		t.Errorf("faulty query: %d %s", a.status, a.body)
	}
	if a := e.do("GET", "/api/v1/audit", e.send, "", nil); a.status != 403 {
		t.Errorf("without audit:read: %d", a.status)
	}
}

// The GDPR routes: export lists the number's message without content;
// with two-person approval an erasure waits (202), the asking account
// cannot approve it (409), another can (200), and then the export is
// empty.
func TestGDPRRoutes(t *testing.T) {
	e := withAudit(t, true)
	m := e.sent("k-1", "journal-1")
	gdpr := e.key(apikey.ScopeGDPR)
	body := map[string]string{"personal_number": "199908072391"}
	a := e.do("POST", "/api/v1/gdpr/export", gdpr, "", body)
	var exp audit.PersonExport
	a.json(t, &exp)
	if a.status != 200 || len(exp.Messages) != 1 || exp.Messages[0].ID != m.ID || exp.Messages[0].Content != nil || exp.ContentNote == "" {
		t.Fatalf("export: %d %s", a.status, a.body)
	}
	a = e.do("POST", "/api/v1/gdpr/erasures", gdpr, "", body)
	var req audit.ErasureRequest
	a.json(t, &req)
	if a.status != 202 || !req.Pending() || req.ID == "" {
		t.Fatalf("erase with two-person approval: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/gdpr/erasures/"+req.ID+"/approve", e.key(apikey.ScopeGDPR), "", nil); a.status != 409 {
		t.Errorf("approved by the asking account: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/gdpr/erasures/nosuch/approve", gdpr, "", nil); a.status != 404 {
		t.Errorf("an unknown request: %d %s", a.status, a.body)
	}
	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", []string{apikey.ScopeGDPR})
	a = e.do("POST", "/api/v1/gdpr/erasures/"+req.ID+"/approve", bo, "", nil)
	a.json(t, &req)
	if a.status != 200 || req.Pending() || req.ApprovedBy != "bo@staff.test" || !slices.Equal(req.Shredded, []string{m.ID}) {
		t.Errorf("approved by another: %d %s", a.status, a.body)
	}
	a = e.do("GET", "/api/v1/gdpr/erasures", gdpr, "", nil)
	if a.status != 200 {
		t.Errorf("list: %d %s", a.status, a.body)
	}
	a = e.do("POST", "/api/v1/gdpr/export", gdpr, "", body)
	a.json(t, &exp)
	if len(exp.Messages) != 0 {
		t.Errorf("after the erasure: %s", a.body)
	}
	if a := e.do("POST", "/api/v1/gdpr/export", gdpr, "", map[string]string{"personal_number": "19990807-2392"}); a.status != 422 {
		t.Errorf("a wrong check digit: %d %s", a.status, a.body)
	}
	if a := e.do("POST", "/api/v1/gdpr/erasures", e.send, "", body); a.status != 403 {
		t.Errorf("without gdpr:admin: %d", a.status)
	}
}
