package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/apikey"
	"sigill/internal/testenv"
	"sigill/vault"
)

// TestSetExpiry: the sender shortens a message's lifetime with expires_in
// (counted from when it was received, as exp=) and extends it with an
// instant; the answer is the message with its new expiry, the change is
// the event expiry_changed in the feed and the message (the account as
// actor), and the link follows the new expiry.
func TestSetExpiry(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	e := newEnvAt(t, clock.Now, nil)
	m := e.sentTo(map[string]any{"address": "0701234567&login=199908072391&"})
	token := e.tokens(m.ID)[0]
	path := "/api/v1/messages/" + m.ID + "/expiry"
	clock.Advance(10 * time.Minute)

	a := e.do("PUT", path, e.send, "", map[string]any{"expires_in": "2h"})
	var got messageView
	a.json(t, &got)
	if a.status != http.StatusOK || !got.Expires.Equal(m.Created.Add(2*time.Hour)) {
		t.Fatalf("expires_in 2h: %d, expires %v, want %v", a.status, got.Expires, m.Created.Add(2*time.Hour))
	}
	if evs := got.Recipients[0].Events; evs[len(evs)-1].Type != "expiry_changed" || evs[len(evs)-1].Actor != staff {
		t.Errorf("the message's events %+v", evs)
	}
	later := m.Created.Add(60 * 24 * time.Hour).Truncate(time.Second)
	a = e.do("PUT", path, e.send, "", map[string]any{"expires": later.In(time.FixedZone("CET", 3600)).Format(time.RFC3339)})
	a.json(t, &got)
	if a.status != http.StatusOK || !got.Expires.Equal(later) {
		t.Fatalf("expires %v: %d %s", later, a.status, a.body)
	}
	var f eventFeed
	e.do("GET", "/api/v1/events", e.send, "", nil).json(t, &f)
	var changes int
	for _, ev := range f.Events {
		if ev.Type == "expiry_changed" && ev.Message == m.ID && ev.Actor == staff {
			changes++
		}
	}
	if changes != 2 {
		t.Errorf("the feed has %d expiry_changed events, want 2: %+v", changes, f.Events)
	}
	clock.Advance(vault.DefaultRetention)
	if st := e.linkState(token); st != vault.LinkFine {
		t.Errorf("after the old expiry, within the new one, the link is %v", st)
	}
}

// TestSetExpiryRefusals: faults of the body are 422 naming the field (the
// limit named: vault.max_retention and the latest instant), a body that is
// no JSON object 400; another account's message is not there, a key
// without messages:revoke is refused; a withdrawn and an expired message
// keep their expiry (409, saying why).
func TestSetExpiryRefusals(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	e := newEnvAt(t, clock.Now, nil)
	m := e.sentTo(map[string]any{"address": "0701234567&login=199908072391&"})
	path := "/api/v1/messages/" + m.ID + "/expiry"
	for _, c := range []struct {
		body   any
		status int
		field  string
		detail string
	}{
		{map[string]any{}, 422, "expires_in", "is missing"},
		{map[string]any{"expires_in": "2h", "expires": "2030-01-01T00:00:00Z"}, 422, "expires", "one of the two"},
		{map[string]any{"expires_in": "3M"}, 422, "expires_in", "months"},
		{map[string]any{"expires_in": 7}, 422, "expires_in", "must be a string"},
		{map[string]any{"expires": "tomorrow"}, 422, "expires", "RFC 3339"},
		{map[string]any{"expires_in": "13w"}, 422, "expires_in", "vault.max_retention: 90d"},
		{map[string]any{"expires": m.Created.Add(-time.Hour).Format(time.RFC3339)}, 422, "expires", "not in the future"},
		{map[string]any{"lifetime": "7d"}, 422, "lifetime", "expires_in"},
		{"not json", 400, "", ""},
		{"", 400, "", ""},
	} {
		a := e.do("PUT", path, e.send, "", c.body)
		if a.status != c.status {
			t.Errorf("%v: %d %s, want %d", c.body, a.status, a.body, c.status)
			continue
		}
		p := a.problem(t)
		if c.field == "" {
			continue
		}
		if len(p.Errors) != 1 || p.Errors[0].Field != c.field || !strings.Contains(p.Errors[0].Detail, c.detail) {
			t.Errorf("%v: faults %+v, want %s: …%s…", c.body, p.Errors, c.field, c.detail)
		}
	}
	if evs, _ := e.v.Events(m.ID); slices.ContainsFunc(evs, func(ev vault.Event) bool { return ev.Kind == vault.EventExpiryChanged }) {
		t.Fatal("a refused change changed the expiry")
	}

	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", nil)
	for key, want := range map[string]int{bo: 404, e.key(apikey.ScopeSend, apikey.ScopeRead): 403, "": 401} {
		if a := e.do("PUT", path, key, "", map[string]any{"expires_in": "1d"}); a.status != want {
			t.Errorf("key %.8q: %d, want %d", key, a.status, want)
		}
	}

	withdrawn := e.sentTo(map[string]any{"address": "0701234567&login=199908072391&"})
	e.do("POST", "/api/v1/messages/"+withdrawn.ID+"/revoke", e.send, "", nil)
	if a := e.do("PUT", "/api/v1/messages/"+withdrawn.ID+"/expiry", e.send, "", map[string]any{"expires_in": "1d"}); a.status != http.StatusConflict || a.problem(t).Type != problemType+"revoked" {
		t.Errorf("withdrawn: %d %s", a.status, a.body)
	}

	clock.Advance(vault.DefaultRetention + time.Minute)
	if a := e.do("PUT", path, e.send, "", map[string]any{"expires_in": "90d"}); a.status != http.StatusConflict || a.problem(t).Type != problemType+"expired" || !strings.Contains(a.problem(t).Detail, "expired at") {
		t.Errorf("expired: %d %s", a.status, a.body)
	}
}
