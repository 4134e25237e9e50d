package readerweb

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"sigill/vault"
)

// secondNode is another reader server on the same vault, as a second node
// sharing the store is.
func (e *env) secondNode() *env {
	e.t.Helper()
	rw, err := New(e.rw.opt)
	if err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewServer(rw.Handler())
	e.t.Cleanup(func() { ts.Close(); rw.Close() })
	return &env{t: e.t, v: e.v, sim: e.sim, rw: rw, ts: ts}
}

// TestSessionOnAnotherNode: a browser that logged in through one node reads
// the message through another (the grant is in the store), records no
// second "opened" there, and a logout on the other node ends the session on
// the first too.
func TestSessionOnAnotherNode(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.secondNode()
	id, token := a.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	onA := a.browser()
	if st := onA.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("login through node a: %+v", st)
	}
	if r := onA.get("/m/" + token); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message through node a: %d", r.status)
	}

	// The store holds neither the cookie nor the link token.
	err := a.v.View(sessionTables, func(tx vault.Tx) error {
		return tx.Table(tSessions).Scan(nil, func(k, v []byte) error {
			if rec := string(k) + string(v); strings.Contains(rec, onA.cookie()) || strings.Contains(rec, token) {
				t.Error("a stored session holds the cookie or the token")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}

	onB := b.browser()
	onB.setCookie(onA.cookie())
	if r := onB.get("/m/" + token); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") || !strings.Contains(r.body, "Test Testsson") {
		t.Fatalf("message through node b with node a's session: %d\n%s", r.status, r.body)
	}
	if evs := a.events(id); len(evs) != 1 {
		t.Fatalf("%d events after reading through two nodes, want the one opened", len(evs))
	}

	onB.postForm("/m/"+token+"/logout", url.Values{})
	if r := onA.get("/m/" + token); strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatal("the session still opens the message on node a after a logout on node b")
	}
}
