package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/apikey"
	"sigill/internal/testenv"
	"sigill/vault"
)

func (e *env) sent(idem, reference string) messageView {
	e.t.Helper()
	a := e.do("POST", "/api/v1/messages", e.send, idem, message(map[string]any{"reference": reference}))
	if a.status != http.StatusCreated {
		e.t.Fatalf("send: %d %s", a.status, a.body)
	}
	var m messageView
	a.json(e.t, &m)
	return m
}

func TestReadMessage(t *testing.T) {
	e := newEnv(t, nil)
	m := e.sent("k-1", "journal-1")
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventNotified}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // every open is an event
		if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"}); err != nil {
			t.Fatal(err)
		}
	}
	// A late delivery report does not hide the open.
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventDelivered}); err != nil {
		t.Fatal(err)
	}
	a := e.do("GET", "/api/v1/messages/"+m.ID, e.send, "", nil)
	var got messageView
	a.json(t, &got)
	r := got.Recipients[0]
	if a.status != 200 || got.Reference != "journal-1" || r.Status != "opened" || len(r.Events) != 5 ||
		r.Events[2].Type != "opened" || r.Events[2].By != "19990807-****" || r.Events[2].Name != "Test Testsson" {
		t.Errorf("GET: %d %s", a.status, a.body)
	}
	audit := e.key(apikey.ScopeRead, apikey.ScopeAudit)
	if a := e.do("GET", "/api/v1/messages/"+m.ID, audit, "", nil); !strings.Contains(string(a.body), `"by":"199908072391"`) {
		t.Errorf("with audit:read: %s", a.body)
	}
	// Another account's key does not see it; nor does a key without the scope.
	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", nil)
	for key, want := range map[string]int{bo: 404, e.key(apikey.ScopeSend): 403, "": 401} {
		a := e.do("GET", "/api/v1/messages/"+m.ID, key, "", nil)
		if a.status != want {
			t.Errorf("GET with key %.8q: %d, want %d", key, a.status, want)
		}
		a.problem(t)
	}
	if a := e.do("GET", "/api/v1/messages/nosuchid", e.send, "", nil); a.status != 404 {
		t.Errorf("an unknown id: %d", a.status)
	}
}

func TestListMessages(t *testing.T) {
	// Message ids order by the millisecond: the clock moves one between
	// sends, so "newest first" has one answer.
	clock := testenv.NewClock(time.Now())
	e := newEnvAt(t, clock.Now, nil)
	var ids []string
	for i, ref := range []string{"case-1", "case-2", "case-1", "case-3"} {
		ids = append(ids, e.sent("k-"+string(rune('a'+i)), ref).ID)
		clock.Advance(time.Millisecond)
	}
	// A message the account sent over SMTP is listed too.
	p := addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}
	r, _ := p.Parse("0701234567&login=*@secure.test")
	smtp, err := e.v.Accept(context.Background(), vault.Incoming{Sender: staff, Account: staff, Errand: "Via SMTP", Raw: []byte("Subject: Via SMTP\r\n\r\nx"),
		Recipients: []vault.Recipient{{Address: "0701234567&login=*@secure.test", Recipient: r}}})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, smtp.ID)

	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		a := e.do("GET", "/api/v1/messages?limit=2&cursor="+cursor, e.send, "", nil)
		var l messageList
		a.json(t, &l)
		for _, m := range l.Messages {
			seen = append(seen, m.ID)
		}
		if l.Next == "" {
			break
		}
		cursor = l.Next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("pages of 2, newest first: %v\nwant %v", seen, want)
	}
	a := e.do("GET", "/api/v1/messages?reference=case-1", e.send, "", nil)
	var l messageList
	a.json(t, &l)
	if len(l.Messages) != 2 || l.Messages[0].ID != ids[2] || l.Messages[1].ID != ids[0] || l.Next != "" {
		t.Errorf("reference=case-1: %s", a.body)
	}
	if a := e.do("GET", "/api/v1/messages?limit=0", e.send, "", nil); a.status != 422 {
		t.Errorf("limit=0: %d", a.status)
	}
}

func TestEventFeed(t *testing.T) {
	e := newEnv(t, nil)
	m1 := e.sent("k-1", "ref-1")
	m2 := e.sent("k-2", "")
	e.v.Record(vault.Event{MessageID: m1.ID, Kind: vault.EventOpened, PersonalNumber: "199908072391", Name: "Test Testsson"})
	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", nil)

	read := func(key, after string, limit string) eventFeed {
		t.Helper()
		a := e.do("GET", "/api/v1/events?limit="+limit+"&after="+after, key, "", nil)
		var f eventFeed
		a.json(t, &f)
		return f
	}
	all := read(e.send, "", "100")
	if len(all.Events) != 3 || all.Events[0].Message != m1.ID || all.Events[0].Type != "accepted" || all.Events[0].Reference != "ref-1" ||
		all.Events[1].Message != m2.ID || all.Events[2].Type != "opened" || all.Events[2].By != "19990807-****" || all.Next != all.Events[2].Cursor {
		t.Errorf("the feed: %+v", all)
	}
	// Paged, and read again from a cursor: the same events.
	first := read(e.send, "", "2")
	rest := read(e.send, first.Next, "2")
	again := read(e.send, first.Next, "2")
	if len(first.Events) != 2 || len(rest.Events) != 1 || rest.Events[0] != all.Events[2] || again.Events[0] != rest.Events[0] {
		t.Errorf("paged: %+v then %+v", first, rest)
	}
	if end := read(e.send, all.Next, "2"); len(end.Events) != 0 || end.Next != all.Next {
		t.Errorf("past the end: %+v", end)
	}
	if f := read(bo, "", "100"); len(f.Events) != 0 {
		t.Errorf("another account's feed holds %d events", len(f.Events))
	}
	if a := e.do("GET", "/api/v1/events?after=bogus", e.send, "", nil); a.status != 422 {
		t.Errorf("after=bogus: %d", a.status)
	}
	if a := e.do("GET", "/api/v1/events", e.key(apikey.ScopeSend, apikey.ScopeRead), "", nil); a.status != 403 {
		t.Errorf("without events:read: %d", a.status)
	}
	// The feed outlives a restart.
	e.close()
	e.open(nil)
	if f := read(e.send, "", "100"); len(f.Events) != 3 || f.Events[2] != all.Events[2] {
		t.Errorf("after a restart: %+v", f)
	}
}

// A recipient's answer from the reader's page is the event "replied" in the
// feed (webhooks deliver it as message.replied), the person masked, and
// the answer is in the served document's event types.
func TestEventFeedReplied(t *testing.T) {
	e := newEnv(t, nil)
	m := e.sent("k-1", "ref-1")
	if err := e.v.Record(vault.Event{MessageID: m.ID, Kind: vault.EventReplied, PersonalNumber: "199908072391", Name: "Test Testsson"}); err != nil {
		t.Fatal(err)
	}
	a := e.do("GET", "/api/v1/events", e.send, "", nil)
	var f eventFeed
	a.json(t, &f)
	if n := len(f.Events); n != 2 || f.Events[1].Type != "replied" || f.Events[1].By != "19990807-****" || f.Events[1].Name != "Test Testsson" {
		t.Fatalf("the feed: %+v", f)
	}
	var mv messageView
	e.do("GET", "/api/v1/messages/"+m.ID, e.send, "", nil).json(t, &mv)
	if evs := mv.Recipients[0].Events; len(evs) != 2 || evs[1].Type != "replied" || mv.Recipients[0].Status != "queued" {
		t.Errorf("the message's events: %+v, status %q", evs, mv.Recipients[0].Status)
	}
}
