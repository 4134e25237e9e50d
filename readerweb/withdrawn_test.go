package readerweb

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"sigill/vault"
)

// TestWithdrawnLink: once the sender withdraws a copy (a "revoked" event),
// its link shows the withdrawn page, and the JSON API answers 410 Gone with
// "withdrawn" — also to a browser that had already opened it — while the
// other links stay as they were.
func TestWithdrawnLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	_, other := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("open: %+v", st)
	}
	if r := b.get("/m/"+token+"/message.json", "Accept", "application/json"); r.status != http.StatusOK {
		t.Fatalf("message.json before: %d %s", r.status, r.body)
	}

	if err := e.v.Record(vault.Event{MessageID: id, Kind: vault.EventRevoked}); err != nil {
		t.Fatal(err)
	}
	r := b.get("/m/" + token)
	if r.status != http.StatusOK || !strings.Contains(r.body, textsSV.WithdrawnTitle) || strings.Contains(r.body, outlookErrand) {
		t.Errorf("withdrawn page: %d\n%s", r.status, r.body)
	}
	gone := func(what string, r resp, want string) {
		t.Helper()
		var body struct{ Error, Status string }
		if err := json.Unmarshal([]byte(r.body), &body); err != nil {
			t.Fatalf("%s: %v in %q", what, err, r.body)
		}
		if r.status != http.StatusGone || body.Error+body.Status != want {
			t.Errorf("%s: %d %s, want 410 %q", what, r.status, r.body, want)
		}
	}
	gone("message.json", b.get("/m/"+token+"/message.json", "Accept", "application/json"), "withdrawn")
	gone("poll", b.get("/m/"+token+"/auth", "Accept", "application/json"), "withdrawn")
	gone("start", e.browser().postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json"), "withdrawn")
	if r := b.get("/m/" + token + "/cid/0"); r.status != http.StatusNotFound {
		t.Errorf("inline image of a withdrawn message: %d", r.status)
	}

	// Unknown links are still the one 404, and the other letter is untouched.
	if r := b.get("/m/AAAAAAAAAAAAAAAAAAAAAB/message.json", "Accept", "application/json"); r.status != http.StatusNotFound {
		t.Errorf("unknown message.json: %d %s", r.status, r.body)
	}
	if r := e.browser().get("/m/" + other); r.status != http.StatusOK || !strings.Contains(r.body, outlookErrand) {
		t.Errorf("the other link: %d", r.status)
	}
}
