package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/audit"
	"sigill/internal/testenv"
	"sigill/vault"
)

const (
	anna   = "199908072391"
	bertil = "198611239883"
)

func setup(t *testing.T) (*vault.Vault, *audit.Store) {
	t.Helper()
	trail := audit.New(0)
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Hooks: []vault.Hook{trail.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := trail.Attach(v); err != nil {
		t.Fatal(err)
	}
	return v, trail
}

func to(address string, logins ...string) vault.Recipient {
	return vault.Recipient{Address: address, Recipient: addressing.Recipient{
		Channel: addressing.SMS, To: "+46701234567", Logins: logins, Born: []string{}, Lang: "sv",
	}}
}

func send(t *testing.T, v *vault.Vault, errand string, rcpts ...vault.Recipient) string {
	t.Helper()
	a, err := v.Accept(context.Background(), vault.Incoming{
		Sender: "dev@staff.test", Account: "dev@staff.test", Errand: errand,
		Raw: []byte("Subject: " + errand + "\r\n\r\nsecret body\r\n"), Recipients: rcpts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func actions(entries []audit.Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Source+":"+e.Action)
	}
	return out
}

// Every open is in a number's trail, with its user agent, and the export
// itself is recorded; another person's messages are not in it.
func TestExportByNumber(t *testing.T) {
	ctx := context.Background()
	v, trail := setup(t)
	mine := send(t, v, "Provsvar", to("0701234567&login=199908072391&@secure.test", anna))
	other := send(t, v, "Kallelse", to("0701234567&login=198611239883&@secure.test", bertil))
	for _, ua := range []string{"Firefox/1", "Safari/2"} {
		if err := v.Record(vault.Event{MessageID: mine, Kind: vault.EventOpened, PersonalNumber: anna, Name: "Anna", IP: "127.0.0.1", UserAgent: ua}); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Record(vault.Event{MessageID: other, Kind: vault.EventDenied, PersonalNumber: anna, Name: "Anna", IP: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	got, err := trail.Export(ctx, audit.Filter{PersonalNumber: anna}, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	var opens []string
	for _, e := range got {
		if e.Action == "opened" {
			opens = append(opens, e.UserAgent)
		}
	}
	if !slices.Equal(opens, []string{"Firefox/1", "Safari/2"}) {
		t.Errorf("opens in the trail: %q, want both with their user agents; all: %v", opens, actions(got))
	}
	if !slices.ContainsFunc(got, func(e audit.Entry) bool { return e.Message == other && e.Action == "denied" }) {
		t.Errorf("the denial at another's message is not in the trail: %v", actions(got))
	}
	bertils, err := trail.Export(ctx, audit.Filter{PersonalNumber: bertil}, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(bertils, func(e audit.Entry) bool { return e.Message == mine }) {
		t.Errorf("another person's message is in the trail of %s", bertil)
	}
	all, err := trail.Export(ctx, audit.Filter{Since: time.Now().Add(-time.Hour)}, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	exports := 0
	for _, e := range all {
		if e.Action == audit.ActionAuditExport && e.Actor == "cli:root" {
			exports++
		}
	}
	if exports != 2 {
		t.Errorf("%d exports recorded before the third, want 2: %v", exports, actions(all))
	}
	if none, _ := trail.Export(ctx, audit.Filter{Until: time.Now().Add(-time.Hour)}, "cli:root"); len(none) != 0 {
		t.Errorf("a period before anything happened holds %v", actions(none))
	}
	var csv bytes.Buffer
	if err := audit.WriteCSV(&csv, []audit.Entry{{Source: "staff", Action: "x", Name: "=HYPERLINK(1)"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), "'=HYPERLINK(1)") {
		t.Errorf("a formula-like field is written as is: %q", csv.String())
	}
}

// Staff records older than the retention go at Sweep; younger ones stay.
func TestStaffRecordsRetention(t *testing.T) {
	ctx := context.Background()
	_, trail := setup(t)
	old := time.Now().Add(-vault.DefaultAuditRetention - time.Hour)
	for _, at := range []time.Time{old, time.Now()} {
		if err := trail.RecordStaffAudit(ctx, audit.StaffAudit{At: at, Actor: "anna@staff.test", Action: audit.ActionAPIKeyCreated, Target: "k1"}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := trail.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the one old record", n, err)
	}
	got, err := trail.Export(ctx, audit.Filter{}, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.IndexFunc(got, func(e audit.Entry) bool { return e.Action == audit.ActionAPIKeyCreated }); n < 0 || got[n].At.Before(time.Now().Add(-time.Hour)) {
		t.Errorf("after the sweep: %v", actions(got))
	}
}

// The GDPR export lists the number's messages without other people's
// opens; an erasure with two-person approval waits for another actor,
// then pseudonymises, shreds what only that number could open, and
// leaves nothing to find by the number.
func TestGDPRExportAndErase(t *testing.T) {
	ctx := context.Background()
	v, trail := setup(t)
	alone := send(t, v, "Provsvar", to("0701234567&login=19990807-2391&@secure.test", anna))
	shared := send(t, v, "Kallelse", to("0701234567&login=199908072391&login=198611239883&@secure.test", anna, bertil))
	for _, who := range []string{anna, bertil} {
		if err := v.Record(vault.Event{MessageID: shared, Kind: vault.EventOpened, PersonalNumber: who, Name: "N " + who}); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := trail.ExportPerson(ctx, anna, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range exp.Messages {
		ids = append(ids, m.ID)
		if m.Content != nil {
			t.Errorf("message %s has content in the export", m.ID)
		}
		for _, e := range m.Events {
			if e.PersonalNumber == bertil {
				t.Errorf("another person's open is in the export: %+v", e)
			}
		}
	}
	// Two ids made in the same millisecond sort by their random half, so
	// the comparison is of sets, not of acceptance order.
	want := []string{alone, shared}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("exported messages %v, want %v", ids, want)
	}

	req, err := trail.RequestErasure(ctx, anna, "admin1@staff.test", true)
	if err != nil || !req.Pending() {
		t.Fatalf("RequestErasure = %+v, %v", req, err)
	}
	if _, err := trail.ApproveErasure(ctx, req.ID, "ADMIN1@staff.test"); !errors.Is(err, audit.ErrSameApprover) {
		t.Errorf("the asker approving: %v, want ErrSameApprover", err)
	}
	if n, _ := trail.IndexLen(); n != 3 {
		t.Errorf("the index holds %d entries, want the two numbers of the shared message and the lone one", n)
	}
	if again, _ := trail.ExportPerson(ctx, anna, "cli:root"); len(again.Messages) != 2 {
		t.Errorf("before approval the number is already gone: %d messages", len(again.Messages))
	}
	done, err := trail.ApproveErasure(ctx, req.ID, "admin2@staff.test")
	if err != nil {
		t.Fatal(err)
	}
	if done.Pending() || done.Sealed != nil || !slices.Equal(done.Shredded, []string{alone}) || done.Events != 1 || done.Recipients != 2 {
		t.Errorf("carried out: %+v", done)
	}
	if _, err := trail.ApproveErasure(ctx, req.ID, "admin3@staff.test"); !errors.Is(err, audit.ErrDone) {
		t.Errorf("approving again: %v", err)
	}
	if n, _ := trail.IndexLen(); n != 1 {
		t.Errorf("after the erasure the index holds %d entries, want the other number's one", n)
	}
	after, err := trail.ExportPerson(ctx, anna, "cli:root")
	if err != nil || len(after.Messages) != 0 {
		t.Errorf("after the erasure the export finds %d messages (%v)", len(after.Messages), err)
	}
	l, err := v.LetterByID(alone, 0)
	if err != nil || !l.Expired {
		t.Errorf("the message only the number could open: expired %v (%v)", l.Expired, err)
	}
	sl, err := v.LetterByID(shared, 0)
	if err != nil || !slices.Equal(sl.Rcpt.Logins, []string{bertil}) || strings.Contains(sl.Rcpt.Address, "199908072391") || sl.Expired {
		t.Errorf("the shared message after the erasure: %+v (%v)", sl.Rcpt, err)
	}
	evs, _ := v.Events(shared)
	for _, ev := range evs {
		if ev.Kind == vault.EventOpened && ev.PersonalNumber != bertil && (ev.PersonalNumber != "erased:"+req.ID || ev.Name != "") {
			t.Errorf("an open after the erasure: %+v", ev)
		}
	}
	all, err := trail.Export(ctx, audit.Filter{}, "cli:root")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(all)
	if bytes.Contains(raw, []byte(anna)) || bytes.Contains(raw, []byte(trail.Subject(anna))) {
		t.Errorf("the whole trail still names the number or its hash after the erasure")
	}
	for _, want := range []string{audit.ActionErasureRequested, audit.ActionErasureApproved, audit.ActionErased} {
		if !slices.ContainsFunc(all, func(e audit.Entry) bool { return e.Action == want && e.Target == req.ID }) {
			t.Errorf("no %s record for request %s: %v", want, req.ID, actions(all))
		}
	}
}

// At audit retention a message's events go, and with them its entries in
// the by-number index: the number's trail is empty, the staff's records
// of the same age go at the store's Sweep.
func TestIndexGoesAtAuditRetention(t *testing.T) {
	ctx := context.Background()
	c := testenv.NewClock(time.Now())
	trail := audit.New(48 * time.Hour)
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: c.Now,
		Retention: time.Hour, MaxRetention: time.Hour, AuditRetention: 48 * time.Hour, Hooks: []vault.Hook{trail.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := trail.Attach(v); err != nil {
		t.Fatal(err)
	}
	id := send(t, v, "Provsvar", to("0701234567&login=199908072391&@secure.test", anna))
	if got, _ := trail.Export(ctx, audit.Filter{PersonalNumber: anna}, "cli:root"); !slices.ContainsFunc(got, func(e audit.Entry) bool { return e.Message == id }) {
		t.Fatalf("the new message is not in the number's trail: %v", actions(got))
	}
	c.Advance(49 * time.Hour)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	if n, err := trail.Sweep(ctx); err != nil || n != 1 {
		t.Errorf("the store's Sweep took %d staff records (%v), want the one export", n, err)
	}
	got, err := trail.Export(ctx, audit.Filter{PersonalNumber: anna}, "cli:root")
	if err != nil || slices.ContainsFunc(got, func(e audit.Entry) bool { return e.Message == id }) {
		t.Errorf("after audit retention the trail still holds the message: %v (%v)", actions(got), err)
	}
	if exp, _ := trail.ExportPerson(ctx, anna, "cli:root"); len(exp.Messages) != 0 {
		t.Errorf("after audit retention the GDPR export finds %d messages", len(exp.Messages))
	}
	if n, err := trail.IndexLen(); n != 0 || err != nil {
		t.Errorf("after audit retention the by-number index holds %d entries (%v)", n, err)
	}
}
