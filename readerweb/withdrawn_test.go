package readerweb

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestWithdrawnLink: once the sender withdraws a copy (vault.Revoke), its
// link shows the withdrawn page with the errand and the sender (never the
// reason, which is the sender's note), and the JSON API answers 410 Gone
// with "withdrawn" — also to a browser that had already opened it — while
// the other links stay as they were.
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

	if _, err := e.v.Revoke(context.Background(), id, 0, "fel patient", "dev@staff.test"); err != nil {
		t.Fatal(err)
	}
	r := b.get("/m/" + token)
	for _, want := range []string{textsSV.WithdrawnTitle, "<dt>Ärende</dt><dd>" + html.EscapeString(outlookErrand) + "</dd>", "<dt>Från</dt><dd>dev@staff.test</dd>"} {
		if r.status != http.StatusOK || !strings.Contains(r.body, want) || strings.Contains(r.body, "fel patient") {
			t.Errorf("withdrawn page: %d, want %q\n%s", r.status, want, r.body)
		}
	}
	if r := b.get("/m/" + token + "?lang=en"); !strings.Contains(r.body, textsEN.WithdrawnTitle) || !strings.Contains(r.body, "<dt>Errand</dt>") {
		t.Errorf("withdrawn page in English:\n%s", r.body)
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
