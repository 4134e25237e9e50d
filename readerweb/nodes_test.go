package readerweb

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
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

// halt stops the server as a node that dies does: its collectors end
// without cancelling or writing anything, its heartbeats stop.
func (e *env) halt() {
	e.rw.halted.Store(true)
	e.ts.Close()
	e.rw.Close()
}

// storeHolds tells whether any record of the reader's tables holds one of
// secrets in clear.
func (e *env) storeHolds(secrets ...string) bool {
	e.t.Helper()
	found := false
	err := e.v.View(sessionTables, func(tx vault.Tx) error {
		for _, name := range sessionTables {
			err := tx.Table(name).Scan(nil, func(k, v []byte) error {
				rec := string(k) + string(v)
				for _, s := range secrets {
					if s != "" && strings.Contains(rec, s) {
						found = true
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return found
}

// An order started through node a is followed through node b: the page
// and the poll there show its QR code (which the phone scans), the app's
// return leads back to the message there, and the login completes and
// opens the message there, "opened" recorded once. The store never holds
// the order's secrets, the link token or the cookie.
func TestOrderOnAnotherNode(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.secondNode()
	id, token := a.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))

	onA := a.browser()
	started := onA.start(token, "same")
	onB := b.browser()
	onB.setCookie(onA.cookie())

	st := mustPoll(t, onB, token)
	if st.Status != "pending" || !strings.HasPrefix(st.QR, "bankid.") {
		t.Fatalf("poll through node b: %+v", st)
	}
	if r := onB.get("/m/" + token + "/qr.svg"); r.status != 200 || !strings.Contains(r.body, "<svg") {
		t.Fatalf("qr.svg through node b: %d", r.status)
	}
	if p := onB.get("/m/"+token, "User-Agent", "Mozilla/5.0 (iPhone) Mobile/15E148"); !strings.Contains(p.body, "autostarttoken="+started.AutoStartToken) {
		t.Fatalf("node b's page has no link to open the app with the order:\n%s", p.body)
	}
	var nonce string
	a.waitOrder(func(o *order) bool { nonce = o.nonce; return true })
	if r := onB.get("/r/" + nonce); r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+token+"?lang=sv" {
		t.Fatalf("the app's return through node b: %d %v", r.status, r.header)
	}
	if a.storeHolds(started.AutoStartToken, token, onA.cookie(), qrSecretOf(a)) {
		t.Fatal("the store holds an order's secret, the link token or the cookie in clear")
	}

	if _, err := a.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if st := onB.waitStatus(token); st.Status != "complete" {
		t.Fatalf("final status through node b: %+v", st)
	}
	if r := onB.get("/m/" + token + "/message.json"); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message.json through node b: %d %s", r.status, r.body)
	}
	// Node a, asked with the pre-login id, has nothing more to claim.
	if st, code := onA.poll(token); code != http.StatusNotFound || st.Status != "none" {
		t.Fatalf("node a after node b's claim: %d %+v", code, st)
	}
	// The app's late return, with the id node b gave at the claim, leads
	// to the message through node a (the return path was sealed again
	// under the new id).
	onA.setCookie(onB.cookie())
	if r := onA.get("/r/" + nonce); r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+token+"?lang=sv" {
		t.Fatalf("the app's return after the login, through node a: %d %v", r.status, r.header)
	}
	if evs := a.events(id); len(evs) != 1 || evs[0].Kind != vault.EventOpened || evs[0].PersonalNumber != pnA {
		t.Fatalf("events %+v", evs)
	}
}

// qrSecretOf is the qrStartSecret of the order e's node collects.
func qrSecretOf(e *env) string {
	var secret string
	e.waitOrder(func(o *order) bool { secret = o.qrSecret; return true })
	return secret
}

// A cancel, or a logout, through node b ends node a's order: at BankID,
// and node a's collector stops.
func TestCancelOnAnotherNode(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.secondNode()
	_, token := a.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	for _, path := range []string{"/cancel", "/logout"} {
		onA := a.browser()
		started := onA.start(token, "same")
		var collector *order
		a.waitOrder(func(o *order) bool { collector = o; return o.autoStart == started.AutoStartToken })
		onB := b.browser()
		onB.setCookie(onA.cookie())
		onB.postForm("/m/"+token+path, url.Values{}, "Accept", "application/json")
		if _, err := a.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: started.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
			t.Fatalf("%s through node b: the order is still at BankID: %v", path, err)
		}
		<-collector.done // node a's collector has stopped
		if st, code := onA.poll(token); code != http.StatusNotFound || st.Status != "none" {
			t.Fatalf("%s through node b: node a still shows the order: %d %+v", path, code, st)
		}
	}
}

// Node a dies mid-order: no heartbeat, nothing cancelled. While its
// heartbeat is fresh, nobody takes its order; once it is stale, node b
// takes the order over and collects it; the person completes and reads
// through node b.
func TestOrderTakenOverFromADeadNode(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newEnv(t, envConfig{simClock: clock.Now, opts: func(o *Options) { o.Now = clock.Now }})
	b := a.secondNode()
	_, token := a.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))

	onA := a.browser()
	started := onA.start(token, "same")

	// Alive, node a beats (at its next collect once beatEvery has passed),
	// and an order whose node beats is not taken, however old.
	clock.Advance(staleAfter - time.Second)
	a.waitBeat(clock.Now())
	clock.Advance(2 * time.Second)
	b.rw.takeOver()
	if n := b.collecting(); n != 0 {
		t.Fatalf("node b took %d orders over while node a's heartbeat was fresh", n)
	}

	a.halt()
	if _, err := a.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: started.AutoStartToken}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	onB := b.browser()
	onB.setCookie(onA.cookie())
	b.rw.takeOver()
	if n := b.collecting(); n != 0 {
		t.Fatalf("node b took %d orders over before node a's heartbeat was stale", n)
	}
	if st := mustPoll(t, onB, token); st.Status != "pending" {
		t.Fatalf("nobody collects, yet the order is %+v", st)
	}

	clock.Advance(staleAfter)
	b.rw.takeOver() // (or its own round of it, as soon as the clock moved)
	if st := onB.waitStatus(token); st.Status != "complete" {
		t.Fatalf("final status through node b: %+v", st)
	}
	if r := onB.get("/m/" + token + "/message.json"); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message.json through node b: %d %s", r.status, r.body)
	}
}

// waitBeat waits until the one pending order's heartbeat says at.
func (e *env) waitBeat(at time.Time) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var beat orderBeat
		err := e.v.View(sessionTables, func(tx vault.Tx) error {
			return tx.Table(tOrders).Scan(nil, func(_, v []byte) error { return json.Unmarshal(v, &beat) })
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if beat.Beat.Equal(at) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("timed out waiting for the heartbeat")
}

// collecting is the number of orders e's node collects.
func (e *env) collecting() int {
	e.rw.mu.Lock()
	defer e.rw.mu.Unlock()
	return len(e.rw.collectors)
}

// A start through node b for the person of node a's pending order cancels
// it (issue 12's rule across nodes): the holder's page on node a says a new
// sign-in replaced it, node a's collector stops, and the recipient reads.
// While the recipient is entering the security code, a start through the
// other node is refused.
func TestNewStartOnAnotherNodeReplaces(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.secondNode()
	_, token := a.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	holder, reader := a.browser(), b.browser()

	held := holder.start(token, "same")
	var collector *order
	a.waitOrder(func(o *order) bool { collector = o; return true })
	reader.start(token, "other")
	if _, err := a.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: held.AutoStartToken}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("the holder's order is still at BankID: %v", err)
	}
	<-collector.done
	if st, _ := holder.poll(token); st.Status != "failed" || st.Message != textsSV.ReplacedText {
		t.Fatalf("the holder's poll on node a: %+v", st)
	}

	st := mustPoll(t, reader, token)
	if _, err := a.sim.Scan(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	b.waitOrder(func(o *order) bool { return o.hint == string(bankid.HintUserSign) })
	r := a.browser().postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json")
	if r.status != http.StatusConflict {
		t.Fatalf("a start through node a while the recipient signs in through node b: %d %s", r.status, r.body)
	}
	if _, err := a.sim.Approve(bankidsim.PhoneRequest{QR: mustPoll(t, reader, token).QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("the recipient approves: %v", err)
	}
	if st := reader.waitStatus(token); st.Status != "complete" {
		t.Fatalf("the recipient's final status: %+v", st)
	}
}

// An erasure of a number takes the orders that name it or identified it
// out of the store, as it does the grants: a completed, unclaimed order
// (its session opens nothing afterwards) and another link's pending order
// that requires the person.
func TestErasureTakesOrders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	_, other := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))

	done := e.browser()
	a := done.start(token, "same")
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(func(o *order) bool { return o.status == "complete" })
	e.browser().start(other, "other")

	if _, err := e.v.ErasePersonalNumber(context.Background(), pnA, "erased-1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if e.storeHolds(pnA, string(personKey(pnA))) {
		t.Fatal("the reader's tables still name the erased number")
	}
	if r := done.get("/m/" + token + "/message.json"); r.status != http.StatusForbidden {
		t.Fatalf("the completed order's session after the erasure: %d %s", r.status, r.body)
	}
}
