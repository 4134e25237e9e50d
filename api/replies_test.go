package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"sigill/apikey"
	"sigill/internal/testenv"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

// repliesEnv is an API that opens replies, on the vault's clock.
func repliesEnv(t *testing.T, clock *testenv.Clock) (*env, *mailbox.Store) {
	boxes := mailbox.New(mailbox.Options{Org: receipts.Org{Name: "Region Test", Hostname: "localhost", Lang: "sv"}, Now: clock.Now})
	e := newEnvAt(t, clock.Now, func(o *Options) {
		boxes.Attach(o.Vault)
		o.Replies = boxes
	}, boxes.Hook())
	return e, boxes
}

// reply posts a recipient's answer as the reader's page does.
func (e *env) reply(boxes *mailbox.Store, id string, recipient int, pn, name, text string, files ...receipts.File) {
	e.t.Helper()
	var l vault.Letter
	if err := e.v.View(nil, func(tx vault.Tx) error {
		var err error
		l, err = tx.Letter(id, recipient)
		return err
	}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := boxes.PostReply(context.Background(), l, mailbox.Replier{PersonalNumber: pn, Name: name, IP: "192.0.2.7"}, text, files); err != nil {
		e.t.Fatal(err)
	}
}

// TestReplies: the sender reads every recipient's answers, oldest first,
// with what they wrote and their files (names, sizes, bytes), the person
// masked without audit:read and whole with it; after the message expires
// the answers are gone, and the route says so (410).
func TestReplies(t *testing.T) {
	clock := testenv.NewClock(time.Now())
	e, boxes := repliesEnv(t, clock)
	m := e.sentTo(map[string]any{"address": "0701234567&login=199908072391&"}, map[string]any{"address": "0701234568&login=198611239883&"})
	path := "/api/v1/messages/" + m.ID + "/replies"

	var none repliesView
	if a := e.do("GET", path, e.send, "", nil); a.status != 200 {
		t.Fatalf("no replies yet: %d %s", a.status, a.body)
	} else if a.json(t, &none); len(none.Replies) != 0 || none.ID != m.ID || !none.Expires.Equal(m.Expires) {
		t.Errorf("no replies yet: %+v", none)
	}

	pdf := []byte("%PDF-1.7 remiss")
	e.reply(boxes, m.ID, 0, "199908072391", "Test Testsson", "Tack!\r\nJag kommer på tisdag.", receipts.File{Name: "remiss.pdf", ContentType: "application/pdf", Body: pdf})
	clock.Advance(time.Minute)
	e.reply(boxes, m.ID, 1, "198611239883", "Bo Bengtsson", "Det passar inte.")

	var got repliesView
	e.do("GET", path, e.send, "", nil).json(t, &got)
	if len(got.Replies) != 2 {
		t.Fatalf("replies %+v", got)
	}
	first, second := got.Replies[0], got.Replies[1]
	if first.Recipient != 0 || first.By != "19990807-****" || first.Name != "Test Testsson" || first.Text != "Tack!\nJag kommer på tisdag." {
		t.Errorf("the first reply %+v", first)
	}
	if len(first.Attachments) != 1 || first.Attachments[0].Filename != "remiss.pdf" || first.Attachments[0].ContentType != "application/pdf" ||
		first.Attachments[0].Size != len(pdf) || string(first.Attachments[0].Content) != string(pdf) {
		t.Errorf("the first reply's files %+v", first.Attachments)
	}
	if second.Recipient != 1 || second.Text != "Det passar inte." || len(second.Attachments) != 0 || !second.At.After(first.At) {
		t.Errorf("the second reply %+v", second)
	}
	var whole repliesView
	e.do("GET", path, e.key(apikey.ScopeRead, apikey.ScopeAudit), "", nil).json(t, &whole)
	if len(whole.Replies) != 2 || whole.Replies[0].By != "199908072391" {
		t.Errorf("with audit:read: %+v", whole.Replies)
	}

	if err := e.v.AddAccount("bo@staff.test", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	_, bo, _ := e.keys.Create(context.Background(), "bo@staff.test", "", nil)
	for key, want := range map[string]int{bo: 404, e.key(apikey.ScopeSend): 403, "": 401} {
		if a := e.do("GET", path, key, "", nil); a.status != want {
			t.Errorf("key %.8q: %d, want %d", key, a.status, want)
		}
	}

	clock.Advance(vault.DefaultRetention)
	a := e.do("GET", path, e.send, "", nil)
	if p := a.problem(t); a.status != http.StatusGone || p.Type != problemType+"expired" || !strings.Contains(p.Detail, "deleted with its content") {
		t.Errorf("after the expiry: %d %s", a.status, a.body)
	}
}
