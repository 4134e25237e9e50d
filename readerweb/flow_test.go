package readerweb

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/internal/testenv"
	"sigill/vault"
)

const outlookErrand = "Provsvar från vårdcentralen"

// The QR path: the code the page gives is scanned with the simulated phone,
// the person may open the message, it is shown and "opened" is recorded.
func TestQRFlowAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()

	if r := b.get("/m/" + token); r.status != 200 || !strings.Contains(r.body, outlookErrand) || !strings.Contains(r.body, "BankID på en annan enhet") {
		t.Fatalf("landing page: %d\n%s", r.status, r.body)
	}
	before := b.cookie()
	st := b.openWithQR(token, pnA)
	if st.Status != "complete" {
		t.Fatalf("final status %+v", st)
	}
	if b.cookie() == before || b.cookie() == "" {
		t.Fatal("session id not rotated after success")
	}

	r := b.get("/m/" + token)
	if r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message page: %d\n%s", r.status, r.body)
	}
	if !strings.Contains(r.body, "Test Testsson") {
		t.Error("the page does not say who is identified")
	}
	if strings.Contains(r.body, "<script") {
		t.Error("the message view loads a script")
	}

	evs := e.events(id)
	if len(evs) != 1 || evs[0].Kind != vault.EventOpened || evs[0].PersonalNumber != pnA ||
		evs[0].Name != "Test Testsson" || evs[0].IP != "127.0.0.1" || evs[0].At.IsZero() ||
		evs[0].UserAgent != "Go-http-client/1.1" {
		t.Fatalf("events after opening: %+v", evs)
	}
	// Reading again in the same session records nothing more.
	b.get("/m/" + token)
	b.get("/m/" + token + "/message.json")
	if n := len(e.events(id)); n != 1 {
		t.Fatalf("%d events after re-reading, want 1", n)
	}
}

// The same-device path: the autostart token from the JSON start opens the
// order in the (simulated) app; requirement.personalNumber is sent because
// exactly one number may open, so the phone need not name the person.
func TestAutostartFlowAllowed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b := e.browser()
	a := b.start(token, "same")
	if a.AutoStartToken == "" || !strings.HasPrefix(a.QR, "bankid.") {
		t.Fatalf("start answer %+v", a)
	}
	if _, err := e.sim.Scan(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatal(err)
	}
	// RFA15B or RFA9 while the app has it, and BankID's same-device wording.
	e.waitOrder(func(o *order) bool { return o.hint != string(bankid.HintOutstandingTransaction) })
	st, _ := b.poll(token)
	if st.Status != "pending" || (st.Message != bankid.RFA15B.Text("sv") && st.Message != bankid.RFA9.Text("sv")) {
		t.Fatalf("pending after scan: %+v", st)
	}
	// No personal number given: the order's requirement supplies it.
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if st := b.waitStatus(token); st.Status != "complete" {
		t.Fatalf("final %+v", st)
	}
	r := b.get("/m/" + token + "/message.json")
	if r.status != 200 || !strings.Contains(r.body, "återbesök") {
		t.Fatalf("message.json: %d %s", r.status, r.body)
	}
	if evs := e.events(id); len(evs) != 1 || evs[0].Kind != vault.EventOpened {
		t.Fatalf("events %+v", evs)
	}
}

// requirement.personalNumber is in the order when exactly one number may
// open it: another person's phone cannot take the order at all.
func TestRequirementPersonalNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, one := e.accept("En", sample(t, "outlook-windows-1252.eml"), recipient(pnA))
	_, two := e.accept("Två", sample(t, "outlook-windows-1252.eml"), recipient(pnA, pnB))

	a := e.browser().start(one, "same")
	_, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnC})
	if !errors.Is(err, bankidsim.ErrPhoneWrongPerson) {
		t.Fatalf("one login: another person approved: %v", err)
	}

	a = e.browser().start(two, "same")
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnC}); err != nil {
		t.Fatalf("two logins: the order required a person: %v", err)
	}
	if onlyLogin(recipient(pnA)) != pnA || onlyLogin(recipient(pnA, pnB)) != "" {
		t.Error("onlyLogin")
	}
	r := recipient()
	r.Anyone = true
	if onlyLogin(r) != "" {
		t.Error("onlyLogin with login=*")
	}
	r = recipient(pnA)
	r.Born = []string{"19861123"}
	if onlyLogin(r) != "" {
		t.Error("onlyLogin with a birth date")
	}
}

// A person who may not open the message is refused: "denied" recorded with
// the number, nothing decrypted, the old and the denied session open nothing.
func TestDenied(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	b := e.browser()
	st := b.openWithQR(token, pnC)
	if st.Status != "denied" || !strings.Contains(st.Message, "inte till") {
		t.Fatalf("status %+v", st)
	}
	r := b.get("/m/" + token)
	if r.status != 200 || strings.Contains(r.body, "provsvar är klart") || !strings.Contains(r.body, "Du kan inte öppna") &&
		!strings.Contains(r.body, "inte till den som legitimerade") {
		t.Fatalf("refusal page: %d\n%s", r.status, r.body)
	}
	if r := b.get("/m/" + token + "/message.json"); r.status != http.StatusForbidden || strings.Contains(r.body, "provsvar") {
		t.Fatalf("message.json after denial: %d %s", r.status, r.body)
	}
	evs := e.events(id)
	if len(evs) != 1 || evs[0].Kind != vault.EventDenied || evs[0].PersonalNumber != pnC || evs[0].IP != "127.0.0.1" ||
		evs[0].UserAgent != "Go-http-client/1.1" {
		t.Fatalf("events %+v", evs)
	}
}

// Birth-date prefixes and "*" open as design.md says.
func TestBornAndAnyone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	born := recipient()
	born.Born = []string{"19861123"}
	_, tb := e.accept("Född", sample(t, "outlook-windows-1252.eml"), born)
	anyone := recipient()
	anyone.Anyone = true
	_, ta := e.accept("Alla", sample(t, "outlook-windows-1252.eml"), anyone)

	if st := e.browser().openWithQR(tb, pnB); st.Status != "complete" {
		t.Errorf("born prefix, right person: %+v", st)
	}
	if st := e.browser().openWithQR(tb, pnA); st.Status != "denied" {
		t.Errorf("born prefix, wrong person: %+v", st)
	}
	if st := e.browser().openWithQR(ta, pnC); st.Status != "complete" {
		t.Errorf("login=*: %+v", st)
	}
}

// BankID's high risk answer is refused even for an allowed person.
func TestHighRiskRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	a := b.start(token, "same")
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA, Risk: "high"}); err != nil {
		t.Fatal(err)
	}
	st := b.waitStatus(token)
	if st.Status != "denied" || st.Message != textsSV.RiskText {
		t.Fatalf("status %+v", st)
	}
	if r := b.get("/m/" + token); strings.Contains(r.body, "provsvar är klart") {
		t.Fatal("content shown after a high-risk identification")
	}
	evs := e.events(id)
	if len(evs) != 1 || evs[0].Kind != vault.EventDenied || evs[0].Detail != "bankid risk high" {
		t.Fatalf("events %+v", evs)
	}
}

// startFailed (30 s unscanned, on the simulator's clock) ends the order with
// RFA17B; the collector stops; a new POST makes a new order that works.
func TestStartFailedThenNewOrder(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{simClock: clock.Now})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	b.start(token, "other")
	var first *order
	e.waitOrder(func(o *order) bool { first = o; return true })
	clock.Advance(bankid.StartTimeout + time.Second)
	st := b.waitStatus(token)
	if st.Status != "failed" || st.HintCode != string(bankid.HintStartFailed) || st.Message != bankid.RFA17B.Text("sv") {
		t.Fatalf("after 31 s: %+v", st)
	}
	<-first.done // the collector has stopped
	page := b.get("/m/" + token)
	if !strings.Contains(page.body, bankid.RFA17B.Text("sv")[:20]) || !strings.Contains(page.body, `data-state="start"`) {
		t.Fatalf("page after startFailed:\n%s", page.body)
	}

	// A new order: new QR, new session; scanning it works. (The simulator's
	// clock moves a second, so that a code of second 0 or 1 is current.)
	b.start(token, "other")
	st, _ = b.poll(token)
	clock.Advance(time.Second)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("scanning the new order's code: %v", err)
	}
	if st := b.waitStatus(token); st.Status != "complete" {
		t.Fatalf("second order: %+v", st)
	}
}

// Cancel stops the order at BankID and the page offers the buttons again.
func TestCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	a := b.start(token, "same")
	r := b.postForm("/m/"+token+"/cancel?lang=sv", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+token+"?lang=sv" {
		t.Fatalf("cancel: %d %v", r.status, r.header)
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("the order still exists at BankID after cancel: %v", err)
	}
	if st, code := b.poll(token); code != http.StatusNotFound || st.Status != "none" {
		t.Fatalf("poll after cancel: %d %+v", code, st)
	}
	if r := b.get("/m/" + token); !strings.Contains(r.body, `data-state="start"`) {
		t.Fatalf("page after cancel:\n%s", r.body)
	}
}

// A new order in the same browser cancels the one it replaces.
func TestNewOrderCancelsOld(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	a1 := b.start(token, "same")
	a2 := b.start(token, "other") // the same person: would be alreadyInProgress if a1 still ran
	if a1.AutoStartToken == a2.AutoStartToken {
		t.Fatal("no new order")
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a1.AutoStartToken}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("the replaced order was not cancelled: %v", err)
	}
}

// A reloaded page resumes the order: same order, a link to open the app, and
// nothing that starts the app by itself.
func TestReloadResumes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	r := b.postForm("/m/"+token+"/auth?lang=sv", url.Values{"device": {"same"}},
		"User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+token+"?lang=sv" {
		t.Fatalf("form start: %d %v", r.status, r.header)
	}
	linkRE := regexp.MustCompile(`href="(https://app\.bankid\.com/\?autostarttoken=[^"]+)"`)
	var links []string
	for range 2 {
		p := b.get("/m/"+token+"?lang=sv", "User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148")
		if !strings.Contains(p.body, `data-state="pending"`) {
			t.Fatalf("reloaded page is not pending:\n%s", p.body)
		}
		m := linkRE.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no link to open the app:\n%s", p.body)
		}
		links = append(links, m[1])
		if strings.Contains(p.body, `http-equiv="refresh" content="0`) || strings.Contains(p.body, "data-autostart") {
			t.Fatal("the reloaded page starts the app by itself")
		}
		if !strings.Contains(p.body, `<noscript><meta http-equiv="refresh" content="2"></noscript>`) {
			t.Error("no 2 s refresh without JavaScript while pending")
		}
	}
	if links[0] != links[1] {
		t.Fatal("a reload made a new order")
	}
	// The link's token is the order's: the app picks it up.
	u, _ := url.Parse(strings.ReplaceAll(links[0], "&amp;", "&"))
	ast := u.Query().Get("autostarttoken")
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: ast}); err != nil {
		t.Fatalf("approving through the page's link: %v", err)
	}
	// Without JavaScript the 2 s refresh lands on the message.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := b.get("/m/" + token + "?lang=sv")
		if strings.Contains(p.body, "Ditt provsvar är klart") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never showed the message:\n%s", p.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The pending page without JavaScript shows the QR code as inline SVG.
func TestPendingPageQR(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}})
	p := b.get("/m/" + token)
	if !strings.Contains(p.body, `<div id="qr" class="qr" role="img"`) || !strings.Contains(p.body, "<svg") ||
		!strings.Contains(p.body, bankid.RFA1.Text("sv")) {
		t.Fatalf("pending page:\n%s", p.body)
	}
	svg := b.get("/m/" + token + "/qr.svg")
	if svg.status != 200 || svg.header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg.body, "<svg") {
		t.Fatalf("qr.svg: %d %v", svg.status, svg.header)
	}
	// qrStartSecret never reaches the browser.
	e.rw.mu.Lock()
	var secret string
	for _, ss := range e.rw.sessions {
		if ss.order != nil {
			secret = ss.order.qrSecret
		}
	}
	e.rw.mu.Unlock()
	st, _ := b.poll(token)
	if secret == "" || strings.Contains(p.body+svg.body+st.QR, secret) {
		t.Fatal("qrStartSecret in a response")
	}
}

// Session fixation: a session id from before BankID does not open the
// message afterwards; neither does one planted in the browser.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))

	victim := e.browser()
	victim.setCookie("planted-by-attacker")
	victim.start(token, "other")
	during := victim.cookie()
	if during == "planted-by-attacker" {
		t.Fatal("the order was bound to a planted session id")
	}
	// The attacker knows the id from during the order.
	attacker := e.browser()
	attacker.setCookie(during)

	st, _ := victim.poll(token)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	if st := victim.waitStatus(token); st.Status != "complete" {
		t.Fatalf("victim: %+v", st)
	}
	after := victim.cookie()
	if after == during {
		t.Fatal("session id not rotated")
	}
	for _, path := range []string{"/m/" + token, "/m/" + token + "/message.json", "/m/" + token + "/att/2", "/m/" + token + "/cid/2"} {
		r := attacker.get(path)
		if strings.Contains(r.body, "provsvar är klart") || strings.Contains(r.body, "PNG") {
			t.Errorf("%s opened with the id from before BankID: %d", path, r.status)
		}
	}
	if st, code := attacker.poll(token); st.Status == "complete" || code != http.StatusNotFound {
		t.Errorf("old id polls %d %+v", code, st)
	}
	planted := e.browser()
	planted.setCookie("planted-by-attacker")
	if r := planted.get("/m/" + token); strings.Contains(r.body, "provsvar är klart") {
		t.Error("the planted id opens the message")
	}
	if r := victim.get("/m/" + token); !strings.Contains(r.body, "provsvar är klart") {
		t.Error("the victim's new id does not open the message")
	}
}

// An order started in one session cannot be followed or collected by
// another: it learns nothing, and the owner's order goes on undisturbed.
func TestOtherSessionCannotCollect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Two logins, so no requirement.personalNumber: BankID lets several
	// orders for the message run at once.
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	owner, other := e.browser(), e.browser()
	owner.start(token, "other")
	other.get("/m/" + token) // a session-less look
	other2 := e.browser()
	other2.start(token, "other") // a session of its own, with its own order
	st, code := other.poll(token)
	if code != http.StatusNotFound || st.Status != "none" || st.QR != "" {
		t.Fatalf("other session's poll: %d %+v", code, st)
	}
	if r := other.get("/m/" + token + "/qr.svg"); r.status != http.StatusNotFound {
		t.Fatalf("other session's qr.svg: %d", r.status)
	}
	ownerSt, _ := owner.poll(token)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: ownerSt.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(func(o *order) bool { return o.status == "complete" })
	for _, b := range []*browser{other, other2} {
		if st, _ := b.poll(token); st.Status == "complete" {
			t.Fatal("another session sees the owner's completion")
		}
		if r := b.get("/m/" + token + "/message.json"); r.status != http.StatusForbidden {
			t.Fatalf("another session's message.json: %d", r.status)
		}
	}
	if st := owner.waitStatus(token); st.Status != "complete" {
		t.Fatalf("owner: %+v", st)
	}
	if evs := e.events(id); len(evs) != 1 || evs[0].Kind != vault.EventOpened {
		t.Fatalf("events %+v", evs)
	}
}

// Sessions end after reader.session_ttl.
func TestSessionTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{opts: func(o *Options) { o.Now = clock.Now; o.SessionTTL = 5 * time.Minute }})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	if r := b.get("/m/" + token); !strings.Contains(r.body, "provsvar är klart") {
		t.Fatal("not open before the TTL")
	}
	clock.Advance(5*time.Minute + time.Second)
	if r := b.get("/m/" + token); strings.Contains(r.body, "provsvar är klart") || !strings.Contains(r.body, `data-state="start"`) {
		t.Fatal("still open after the TTL")
	}
	e.rw.sweep()
	e.rw.mu.Lock()
	n := len(e.rw.sessions)
	e.rw.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d sessions after the sweep", n)
	}
}

// Close cancels open orders at BankID; so does a session's TTL.
func TestCloseCancelsOrders(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{opts: func(o *Options) { o.Now = clock.Now }})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))

	a1 := e.browser().start(token, "same")
	clock.Advance(16 * time.Minute)
	e.rw.sweep()
	e.waitGone(a1.AutoStartToken)

	a2 := e.browser().start(token, "same")
	e.rw.Close()
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a2.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("order open after Close: %v", err)
	}
	e.rw.mu.Lock()
	active := e.rw.active
	e.rw.mu.Unlock()
	if active != 0 {
		t.Fatalf("%d collectors after Close", active)
	}
}

func (e *env) waitGone(autoStart string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.sim.Scan(bankidsim.PhoneRequest{AutoStartToken: autoStart})
		if errors.Is(err, bankidsim.ErrPhoneNoOrder) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("order not cancelled: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The user cancelling in the app ends with RFA6 and the buttons again.
func TestUserCancelInApp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	a := b.start(token, "same")
	if _, err := e.sim.Cancel(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatal(err)
	}
	st := b.waitStatus(token)
	if st.Status != "failed" || st.HintCode != "userCancel" || st.Message != bankid.RFA6.Text("sv") {
		t.Fatalf("%+v", st)
	}
}

// BankID errors on /auth are shown with the recommended message, not passed
// through; a collect that keeps failing ends the order with RFA5.
func TestBankIDErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	if err := e.sim.InjectFault(bankidsim.FaultInternalError); err != nil {
		t.Fatal(err)
	}
	r := b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json")
	var ae apiError
	mustJSON(t, r.body, &ae)
	if r.status != http.StatusBadGateway || ae.Message != bankid.RFA5.Text("sv") {
		t.Fatalf("auth during internalError: %d %s", r.status, r.body)
	}
	form := b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}})
	if form.status != http.StatusBadGateway || !strings.Contains(form.body, bankid.RFA5.Text("sv")) {
		t.Fatalf("form auth during internalError: %d", form.status)
	}
	e.sim.InjectFault(bankidsim.FaultNone)

	b.start(token, "other")
	e.sim.InjectFault(bankidsim.FaultInternalError)
	st := b.waitStatus(token)
	e.sim.InjectFault(bankidsim.FaultNone)
	if st.Status != "failed" || st.Message != bankid.RFA5.Text("sv") {
		t.Fatalf("collect during internalError: %+v", st)
	}
}

// The same-device returnUrl carries a nonce, not the link token; it leads
// back to the page only in the browser that holds the session.
func TestReturnURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	b.start(token, "same")
	var nonce, returnPath string
	e.waitOrder(func(o *order) bool { nonce, returnPath = o.nonce, o.returnPath; return true })
	if nonce == "" || strings.Contains(nonce, token) || returnPath != "/m/"+token+"?lang=sv" {
		t.Fatalf("nonce %q, return path %q", nonce, returnPath)
	}
	r := b.get("/r/" + nonce)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != returnPath {
		t.Fatalf("return with the session: %d %v", r.status, r.header)
	}
	other := e.browser()
	r = other.get("/r/" + nonce)
	if r.status != 200 || strings.Contains(r.body, token) || !strings.Contains(r.body, `http-equiv="refresh" content="0;url=/r/`+nonce+`?b=1"`) {
		t.Fatalf("return without a cookie:\n%s", r.body)
	}
	r = other.get("/r/" + nonce + "?b=1")
	if r.status != 200 || strings.Contains(r.body, token) || strings.Contains(r.body, "refresh") {
		t.Fatalf("second return without a cookie:\n%s", r.body)
	}
	if r := b.get("/r/wrong-nonce-wrong-nonce"); r.status != 200 || strings.Contains(r.body, token) {
		t.Fatalf("wrong nonce: %d", r.status)
	}
}

// Past the cap on open orders a start is refused with 503, not queued.
func TestOrderCap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	e.rw.mu.Lock()
	e.rw.maxOrders = 1
	e.rw.mu.Unlock()
	e.browser().start(token, "other")
	r := e.browser().postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, textsSV.BusyText) {
		t.Fatalf("second order past the cap: %d %s", r.status, r.body)
	}
}

// The logs of a whole flow name no token, session id, nonce, body or whole
// personal number.
func TestLogsKeepSecrets(t *testing.T) {
	t.Parallel()
	var buf testenv.SyncBuffer
	e := newEnv(t, envConfig{opts: func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	_, token2 := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	b := e.browser()
	b.start(token, "same")
	sid := b.cookie()
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatal(st)
	}
	b.get("/m/" + token)
	if st := e.browser().openWithQR(token2, pnC); st.Status != "denied" {
		t.Fatal(st)
	}
	logs := buf.String()
	for _, secret := range []string{token, token2, sid, b.cookie(), pnA, pnB, pnC, "provsvar är klart"} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "19990807-****") || !strings.Contains(logs, "message opened") || !strings.Contains(logs, "reader refused") {
		t.Errorf("the log lacks the events:\n%s", logs)
	}
}

// A recipient with two messages reads both in one browser: logging in for
// the second keeps the first open (its grant carried to the new session),
// and reading the first again records nothing more.
func TestTwoMessagesOneBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	idA, tokenA := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	_, tokenB := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(tokenA, pnA); st.Status != "complete" {
		t.Fatalf("A: %+v", st)
	}
	if st := b.openWithQR(tokenB, pnA); st.Status != "complete" {
		t.Fatalf("B: %+v", st)
	}
	if r := b.get("/m/" + tokenB + "/message.json"); r.status != 200 || !strings.Contains(r.body, "återbesök") {
		t.Fatalf("B after both logins: %d %s", r.status, r.body)
	}
	if r := b.get("/m/" + tokenA); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("A after logging in for B: %d\n%.400s", r.status, r.body)
	}
	if evs := e.events(idA); len(evs) != 1 {
		t.Fatalf("A's events %+v, want the one opened", evs)
	}
}

// A grant lasts session_ttl from its own login, also when a later login
// carries it into a newer session.
func TestCarriedGrantKeepsItsTTL(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{opts: func(o *Options) { o.Now = clock.Now; o.SessionTTL = 5 * time.Minute }})
	_, tokenA := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	_, tokenB := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	b := e.browser()
	if st := b.openWithQR(tokenA, pnA); st.Status != "complete" {
		t.Fatalf("A: %+v", st)
	}
	clock.Advance(3 * time.Minute)
	if st := b.openWithQR(tokenB, pnA); st.Status != "complete" {
		t.Fatalf("B: %+v", st)
	}
	clock.Advance(3 * time.Minute) // A's login is 6 min old, B's 3
	if r := b.get("/m/" + tokenA); strings.Contains(r.body, "provsvar är klart") {
		t.Error("A still open 6 minutes after its login, with a 5-minute TTL")
	}
	if r := b.get("/m/" + tokenB + "/message.json"); r.status != 200 {
		t.Errorf("B closed 3 minutes after its login: %d", r.status)
	}
}

// On a phone the BankID app's return often opens a new tab after the first
// tab has polled and logged in: the return still leads to the message.
func TestReturnAfterLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	a := b.start(token, "same")
	var nonce, returnPath string
	e.waitOrder(func(o *order) bool { nonce, returnPath = o.nonce, o.returnPath; return true })
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatal(err)
	}
	if st := b.waitStatus(token); st.Status != "complete" {
		t.Fatalf("final %+v", st)
	}
	r := b.get("/r/" + nonce)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != returnPath {
		t.Fatalf("the return after the login: %d, Location %q; want 303 to %s", r.status, r.header.Get("Location"), returnPath)
	}
	if r := e.browser().get("/r/" + nonce); r.status != 200 || strings.Contains(r.body, token) {
		t.Fatalf("another browser with the nonce: %d", r.status)
	}
}

// Someone holding a forwarded link starts orders in a loop; each names the
// one person who may open, and BankID allows a person one open order. The
// recipient's start replaces the holder's order instead of meeting
// alreadyInProgress (RFA4), and the holder's page says why theirs ended.
func TestRecipientStartReplacesLinkHoldersOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	holder, reader := e.browser(), e.browser()

	held := holder.start(token, "same")
	r := reader.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("the recipient's start: %d %s", r.status, r.body)
	}
	var live authStart
	mustJSON(t, r.body, &live)

	// The holder's order is gone at BankID, and their page says so.
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{AutoStartToken: held.AutoStartToken}); !errors.Is(err, bankidsim.ErrPhoneNoOrder) {
		t.Fatalf("the holder's order is still at BankID: %v", err)
	}
	st, _ := holder.poll(token)
	if st.Status != "failed" || st.Message != textsSV.ReplacedText {
		t.Fatalf("the holder's poll: %+v", st)
	}
	if p := holder.get("/m/" + token); !strings.Contains(p.body, "en ny inloggning för samma person startades") {
		t.Fatalf("the holder's page does not say what happened:\n%s", p.body)
	}

	// The recipient's order is live: it completes, and they read.
	st, _ = reader.poll(token)
	if st.Status != "pending" {
		t.Fatalf("the recipient's order: %+v", st)
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("the recipient approves: %v", err)
	}
	if st := reader.waitStatus(token); st.Status != "complete" {
		t.Fatalf("the recipient's final status: %+v", st)
	}
	if r := reader.get("/m/" + token + "/message.json"); r.status != 200 || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message.json: %d %s", r.status, r.body)
	}
	if evs := e.events(id); len(evs) != 1 || evs[0].Kind != vault.EventOpened || evs[0].PersonalNumber != pnA {
		t.Fatalf("events %+v", evs)
	}
}

// Once the recipient's BankID is asking for the security code (userSign,
// which only their own BankID reaches), a new start for the same person does
// not cancel their sign-in half-way: it is refused, without calling BankID.
func TestStartDoesNotCancelASignInUnderWay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	_, other := e.accept("Kallelse", sample(t, "thunderbird-attachment.eml"), recipient(pnA))
	reader, holder := e.browser(), e.browser()

	reader.start(token, "other")
	st, _ := reader.poll(token)
	if _, err := e.sim.Scan(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(func(o *order) bool { return o.hint == string(bankid.HintUserSign) })

	// On the same link, and on another link for the same person.
	for _, tk := range []string{token, other} {
		r := holder.postForm("/m/"+tk+"/auth", url.Values{"device": {"other"}}, "Accept", "application/json")
		if r.status != http.StatusConflict || !strings.Contains(r.body, "legitimera sig med BankID just nu") {
			t.Fatalf("a start while the recipient signs in: %d %s", r.status, r.body)
		}
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: mustPoll(t, reader, token).QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("the recipient approves: %v", err)
	}
	if st := reader.waitStatus(token); st.Status != "complete" {
		t.Fatalf("the recipient's final status: %+v", st)
	}
}

func mustPoll(t *testing.T, b *browser, token string) authStatus {
	t.Helper()
	st, code := b.poll(token)
	if code != http.StatusOK {
		t.Fatalf("poll: %d %+v", code, st)
	}
	return st
}
