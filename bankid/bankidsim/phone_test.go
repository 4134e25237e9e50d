package bankidsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
)

type phoneAnswer struct {
	status int
	header http.Header
	body   string
}

func (a phoneAnswer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("answer is not JSON: %s", a.body)
	}
	return m
}

func phoneDo(t *testing.T, h http.Handler, method, path, contentType, body string) phoneAnswer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return phoneAnswer{rec.Code, rec.Header(), rec.Body.String()}
}

func TestPhoneHTTPApprove(t *testing.T) {
	w := newWire(t)
	h := w.sim.PhoneHandler()
	byAuto := w.auth(`{` + ip + `,"returnRisk":true}`)
	byQRToken := w.auth(`{` + ip + `}`)
	byQR := w.auth(`{` + ip + `}`)

	a := phoneDo(t, h, "POST", "/dev/bankid/approve", "application/json",
		`{"autoStartToken":"`+byAuto.AutoStartToken+`","personalNumber":"`+pnA+`","name":"Anna Andersson","risk":"moderate"}`)
	if a.status != http.StatusOK || a.json(t)["status"] != "complete" || a.json(t)["orderRef"] != byAuto.OrderRef {
		t.Fatalf("approve by autoStartToken: %d %s", a.status, a.body)
	}
	_, r := w.collect(byAuto.OrderRef)
	if r.CompletionData == nil || r.CompletionData.User.Name != "Anna Andersson" || r.CompletionData.Risk != bankid.RiskModerate {
		t.Fatalf("collect: %+v", r)
	}

	a = phoneDo(t, h, "POST", "/dev/bankid/approve", "application/json", `{"qrStartToken":"`+byQRToken.QRStartToken+`","personalNumber":"`+pnB+`"}`)
	if a.status != http.StatusOK || a.json(t)["status"] != "complete" {
		t.Fatalf("approve by qrStartToken: %d %s", a.status, a.body)
	}

	w.clock.Advance(1500 * time.Millisecond)
	a = phoneDo(t, h, "POST", "/dev/bankid/approve", "application/json", `{"qr":"`+bankid.QRData(byQR.QRStartToken, byQR.QRStartSecret, 1)+`","personalNumber":"`+pnC+`"}`)
	if a.status != http.StatusOK {
		t.Fatalf("approve by qr: %d %s", a.status, a.body)
	}
}

func TestPhoneHTTPFailAndCancel(t *testing.T) {
	w := newWire(t)
	h := w.sim.PhoneHandler()
	x := w.auth(`{` + ip + `}`)
	y := w.auth(`{` + ip + `}`)
	a := phoneDo(t, h, "POST", "/dev/bankid/approve", "application/json", `{"autoStartToken":"`+x.AutoStartToken+`","hintCode":"certificateErr"}`)
	if a.status != http.StatusOK || a.json(t)["status"] != "failed" || a.json(t)["hintCode"] != "certificateErr" {
		t.Fatalf("fail with hint: %d %s", a.status, a.body)
	}
	a = phoneDo(t, h, "POST", "/dev/bankid/cancel", "application/json", `{"autoStartToken":"`+y.AutoStartToken+`"}`)
	if a.status != http.StatusOK || a.json(t)["hintCode"] != "userCancel" {
		t.Fatalf("cancel: %d %s", a.status, a.body)
	}
	w.wantState(y.OrderRef, bankid.StatusFailed, bankid.HintUserCancel)
}

func TestPhoneHTTPErrors(t *testing.T) {
	w := newWire(t)
	h := w.sim.PhoneHandler()
	pending := w.auth(`{` + ip + `,"requirement":{"personalNumber":"` + pnA + `"}}`)
	done := w.auth(`{` + ip + `}`)
	if _, err := w.sim.Cancel(PhoneRequest{AutoStartToken: done.AutoStartToken}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, contentType, body string
		status                  int
		mention                 string
	}{
		{"bad JSON", "application/json", `{"autoStartToken":`, 400, "bad JSON"},
		{"unknown field", "application/json", `{"autoStartToken":"x","pno":"` + pnA + `"}`, 400, "pno"},
		{"two values", "application/json", `{"autoStartToken":"x"} {}`, 400, "more than one"},
		{"not JSON", "text/plain", `autoStartToken=x`, 400, "application/json"},
		{"no token", "application/json", `{"personalNumber":"` + pnA + `"}`, 400, "exactly one"},
		{"unknown token", "application/json", `{"autoStartToken":"11111111-2222-4333-8444-555555555555","personalNumber":"` + pnA + `"}`, 404, "no order"},
		{"finished order", "application/json", `{"autoStartToken":"` + done.AutoStartToken + `","personalNumber":"` + pnA + `"}`, 409, "no longer pending"},
		{"stale QR", "application/json", `{"qr":"` + bankid.QRData(pending.QRStartToken, pending.QRStartSecret, 0) + `","personalNumber":"` + pnA + `"}`, 403, "QR code refused"},
		{"forged QR", "application/json", `{"qr":"` + bankid.QRData(pending.QRStartToken, "guess", 0) + `","personalNumber":"` + pnA + `"}`, 403, "does not verify"},
		{"another person", "application/json", `{"autoStartToken":"` + pending.AutoStartToken + `","personalNumber":"` + pnB + `"}`, 403, "19990807-****"},
	}
	w.clock.Advance(10 * time.Second) // makes the second-0 QR code stale
	for _, c := range cases {
		a := phoneDo(t, h, "POST", "/dev/bankid/approve", c.contentType, c.body)
		msg, _ := a.json(t)["error"].(string)
		if a.status != c.status || !strings.Contains(msg, c.mention) {
			t.Errorf("%s: %d %s, want %d mentioning %q", c.name, a.status, a.body, c.status, c.mention)
		}
		if strings.Contains(a.body, pnA) && c.name == "another person" {
			t.Errorf("%s: answer shows the required personal number in full", c.name)
		}
	}
	if a := phoneDo(t, h, "GET", "/dev/bankid/approve", "", ""); a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET approve: %d", a.status)
	}
	w.wantState(pending.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)
}

func TestPhoneHTTPFaultSwitch(t *testing.T) {
	w := newWire(t)
	h := w.sim.PhoneHandler()
	if a := phoneDo(t, h, "POST", "/dev/bankid/fault", "application/json", `{"fault":"tooManyRequests"}`); a.status != http.StatusOK {
		t.Fatalf("set fault: %d %s", a.status, a.body)
	}
	w.wantError(w.post("auth", `{`+ip+`}`), http.StatusTooManyRequests, bankid.ErrTooManyRequests)
	if a := phoneDo(t, h, "POST", "/dev/bankid/fault", "application/json", `{"fault":"earthquake"}`); a.status != http.StatusBadRequest {
		t.Fatalf("unknown fault: %d %s", a.status, a.body)
	}
	if a := phoneDo(t, h, "POST", "/dev/bankid/fault", "application/json", `{"fault":""}`); a.status != http.StatusOK {
		t.Fatalf("clear fault: %d %s", a.status, a.body)
	}
	w.auth(`{` + ip + `}`)
}

func TestPhonePage(t *testing.T) {
	w := newWire(t)
	h := w.sim.PhoneHandler()
	a := w.auth(`{` + ip + `,"userVisibleData":"` + "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==" + `","requirement":{"personalNumber":"` + pnA + `"}}`)
	gone := w.auth(`{` + ip + `}`)
	w.clock.Advance(bankid.StartTimeout) // both unscanned orders fail…
	b := w.auth(`{` + ip + `}`)          // …and a new one is pending

	page := phoneDo(t, h, "GET", "/dev/bankid", "", "")
	if page.status != http.StatusOK || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %q", page.status, page.header.Get("Content-Type"))
	}
	if !strings.Contains(page.body, b.AutoStartToken) || strings.Contains(page.body, gone.AutoStartToken) || strings.Contains(page.body, a.AutoStartToken) {
		t.Errorf("page lists the wrong orders")
	}
	for _, bad := range []string{"<script", "src=", `href="http`, "<link", "@import", "url("} {
		if strings.Contains(page.body, bad) {
			t.Errorf("page contains %q: it must not load anything", bad)
		}
	}
	if page.header.Get("Content-Security-Policy") == "" {
		t.Error("page has no Content-Security-Policy")
	}

	// A pending order that requires a person shows the number masked, and
	// the app text escaped.
	c := w.auth(`{` + ip + `,"userVisibleData":"PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==","requirement":{"personalNumber":"` + pnA + `"}}`)
	page = phoneDo(t, h, "GET", "/dev/bankid", "", "")
	if !strings.Contains(page.body, c.AutoStartToken) || !strings.Contains(page.body, "19990807-****") {
		t.Errorf("page lacks the order or its masked number")
	}
	if strings.Contains(page.body, pnA) {
		t.Error("page shows a personal number in full")
	}
	if !strings.Contains(page.body, "&lt;script&gt;") {
		t.Error("userVisibleData is not escaped")
	}

	// The page's forms post, and come back to the page with the outcome.
	form := url.Values{"autoStartToken": {b.AutoStartToken}, "personalNumber": {pnB}, "hintCode": {""}}
	res := phoneDo(t, h, "POST", "/dev/bankid/approve", "application/x-www-form-urlencoded", form.Encode())
	loc := res.header.Get("Location")
	if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/dev/bankid?done=") {
		t.Fatalf("form post: %d Location %q", res.status, loc)
	}
	page = phoneDo(t, h, "GET", loc, "", "")
	if !strings.Contains(page.body, "complete") {
		t.Errorf("page does not show the outcome")
	}
	w.wantState(b.OrderRef, bankid.StatusComplete, "")

	res = phoneDo(t, h, "POST", "/dev/bankid/cancel", "application/x-www-form-urlencoded", "autoStartToken=nope")
	if res.status != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), url.QueryEscape(ErrPhoneNoOrder.Error())) {
		t.Errorf("form error: %d %q", res.status, res.header.Get("Location"))
	}
	res = phoneDo(t, h, "POST", "/dev/bankid/fault", "application/x-www-form-urlencoded", "fault=maintenance")
	if res.status != http.StatusSeeOther {
		t.Errorf("fault form: %d", res.status)
	}
	if page = phoneDo(t, h, "GET", "/dev/bankid", "", ""); !strings.Contains(page.body, "Injected fault: <strong>maintenance</strong>") {
		t.Error("page does not show the injected fault")
	}
}
