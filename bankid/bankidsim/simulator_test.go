package bankidsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/internal/testenv"
)

// wire calls the simulator's handler directly, as if over mutual TLS.
type wire struct {
	t     *testing.T
	sim   *Simulator
	clock *testenv.Clock
	cert  *x509.Certificate
}

func newWire(t *testing.T) *wire {
	clock := testenv.NewClock(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	return &wire{t: t, sim: &Simulator{Now: clock.Now}, clock: clock, cert: testenv.DevPKI(t).RP}
}

type wireAnswer struct {
	status int
	header http.Header
	body   string
}

func (a wireAnswer) errorCode() string {
	var eb errorBody
	_ = json.Unmarshal([]byte(a.body), &eb)
	return eb.ErrorCode
}

func (w *wire) do(method, path, contentType, body string, tlsState *tls.ConnectionState) wireAnswer {
	w.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.TLS = tlsState
	rec := httptest.NewRecorder()
	w.sim.ServeHTTP(rec, req)
	return wireAnswer{rec.Code, rec.Header(), rec.Body.String()}
}

func (w *wire) post(op, body string) wireAnswer {
	w.t.Helper()
	return w.do(http.MethodPost, "/rp/v6.0/"+op, "application/json", body, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{w.cert}})
}

func (w *wire) auth(body string) bankid.AuthResponse {
	w.t.Helper()
	a := w.post("auth", body)
	if a.status != http.StatusOK {
		w.t.Fatalf("auth %s: %d %s", body, a.status, a.body)
	}
	var r bankid.AuthResponse
	if err := json.Unmarshal([]byte(a.body), &r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *wire) collect(orderRef string) (wireAnswer, bankid.CollectResponse) {
	w.t.Helper()
	a := w.post("collect", `{"orderRef":"`+orderRef+`"}`)
	var r bankid.CollectResponse
	if a.status == http.StatusOK {
		if err := json.Unmarshal([]byte(a.body), &r); err != nil {
			w.t.Fatal(err)
		}
	}
	return a, r
}

func (w *wire) wantState(orderRef string, status bankid.Status, hint bankid.HintCode) {
	w.t.Helper()
	a, r := w.collect(orderRef)
	if a.status != http.StatusOK || r.Status != status || r.HintCode != hint {
		w.t.Fatalf("collect = %d %s, want %s/%s", a.status, a.body, status, hint)
	}
}

func (w *wire) wantError(a wireAnswer, status int, code bankid.ErrorCode) {
	w.t.Helper()
	if a.status != status || a.errorCode() != string(code) {
		w.t.Fatalf("answer %d %s, want %d %s", a.status, a.body, status, code)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		w.t.Errorf("Content-Type %q", ct)
	}
}

const ip = `"endUserIp":"192.0.2.10"`

func TestSimulatorWireRules(t *testing.T) {
	w := newWire(t)
	mtls := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{w.cert}}

	t.Run("POST only", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			a := w.do(m, "/rp/v6.0/auth", "application/json", "{"+ip+"}", mtls)
			w.wantError(a, http.StatusMethodNotAllowed, bankid.ErrMethodNotAllowed)
			if a.header.Get("Allow") != "POST" {
				t.Errorf("%s: Allow = %q", m, a.header.Get("Allow"))
			}
		}
	})
	t.Run("JSON only", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=UTF-8", "application/json;charset=utf-8"} {
			a := w.do(http.MethodPost, "/rp/v6.0/auth", ct, "{"+ip+"}", mtls)
			w.wantError(a, http.StatusUnsupportedMediaType, bankid.ErrUnsupportedMediaType)
		}
	})
	t.Run("mutual TLS", func(t *testing.T) {
		for name, state := range map[string]*tls.ConnectionState{"plain HTTP": nil, "TLS without certificate": {}} {
			a := w.do(http.MethodPost, "/rp/v6.0/auth", "application/json", "{"+ip+"}", state)
			if a.status != http.StatusUnauthorized || a.errorCode() != string(bankid.ErrUnauthorized) {
				t.Errorf("%s: %d %s, want 401 unauthorized", name, a.status, a.body)
			}
		}
	})
	t.Run("unknown paths", func(t *testing.T) {
		for _, p := range []string{"/rp/v5.1/auth", "/rp/v6.0/sign", "/rp/v6.0/", "/"} {
			w.wantError(w.do(http.MethodPost, p, "application/json", "{"+ip+"}", mtls), http.StatusNotFound, bankid.ErrNotFound)
		}
	})
	t.Run("bad auth parameters", func(t *testing.T) {
		for _, body := range []string{
			`{}`, `{"endUserIp":""}`, `{"endUserIp":"example.se"}`, `{"endUserIp":"300.1.2.3"}`, `not json`,
			`{` + ip + `,"userVisibleData":"not base64!"}`,
			`{` + ip + `,"userVisibleData":"` + strings.Repeat("QUFB", 400) + `"}`,
			`{` + ip + `,"userVisibleDataFormat":"html"}`,
			`{` + ip + `,"returnUrl":"/relative"}`,
			`{` + ip + `,"requirement":{"personalNumber":"19990807-2391"}}`,
		} {
			w.wantError(w.post("auth", body), http.StatusBadRequest, bankid.ErrInvalidParameters)
		}
	})
	t.Run("IPv6 endUserIp", func(t *testing.T) {
		w.auth(`{"endUserIp":"2001:db8::1"}`)
	})
	t.Run("UUID tokens, lowercase status", func(t *testing.T) {
		uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
		a := w.auth(`{` + ip + `,"userVisibleData":"SGVq","returnRisk":true}`)
		for _, tok := range []string{a.OrderRef, a.AutoStartToken, a.QRStartToken, a.QRStartSecret} {
			if !uuid.MatchString(tok) {
				t.Errorf("%q is not a version 4 UUID", tok)
			}
		}
		ans, _ := w.collect(a.OrderRef)
		if !strings.Contains(ans.body, `"status":"pending"`) || !strings.Contains(ans.body, `"hintCode":"outstandingTransaction"`) {
			t.Errorf("collect body %s", ans.body)
		}
	})
	t.Run("unknown or missing orderRef", func(t *testing.T) {
		for _, op := range []string{"collect", "cancel"} {
			for _, body := range []string{`{"orderRef":"131daac9-16c6-4618-beb0-365768f37288"}`, `{}`, `[]`} {
				w.wantError(w.post(op, body), http.StatusBadRequest, bankid.ErrInvalidParameters)
			}
		}
	})
	t.Run("RP cancel", func(t *testing.T) {
		a := w.auth(`{` + ip + `}`)
		if ans := w.post("cancel", `{"orderRef":"`+a.OrderRef+`"}`); ans.status != http.StatusOK || strings.TrimSpace(ans.body) != "{}" {
			t.Fatalf("cancel: %d %s", ans.status, ans.body)
		}
		ans, _ := w.collect(a.OrderRef)
		w.wantError(ans, http.StatusBadRequest, bankid.ErrInvalidParameters)
		w.wantError(w.post("cancel", `{"orderRef":"`+a.OrderRef+`"}`), http.StatusBadRequest, bankid.ErrInvalidParameters)
	})
}

func TestSimulatorStartFailedAfter30Seconds(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `}`)
	w.clock.Advance(bankid.StartTimeout - time.Second)
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)
	w.clock.Advance(time.Second)
	w.wantState(a.OrderRef, bankid.StatusFailed, bankid.HintStartFailed)
	ans, _ := w.collect(a.OrderRef)
	w.wantError(ans, http.StatusBadRequest, bankid.ErrInvalidParameters)
}

func TestSimulatorExpiredTransactionAfter3Minutes(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `}`)
	w.clock.Advance(10 * time.Second)
	if _, err := w.sim.Scan(PhoneRequest{AutoStartToken: a.AutoStartToken}); err != nil {
		t.Fatal(err)
	}
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintStarted)
	w.clock.Advance(bankid.OrderTimeout - 10*time.Second - time.Second)
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintUserSign)
	w.clock.Advance(time.Second)
	w.wantState(a.OrderRef, bankid.StatusFailed, bankid.HintExpiredTransaction)

	// The phone cannot act on it any more; an uncollected expired order
	// reports its state to the phone.
	b := w.auth(`{` + ip + `}`)
	w.clock.Advance(bankid.OrderTimeout)
	if _, err := w.sim.Approve(PhoneRequest{AutoStartToken: b.AutoStartToken, PersonalNumber: pnA}); !errors.Is(err, ErrPhoneNotPending) {
		t.Fatalf("approve after expiry: err = %v, want ErrPhoneNotPending", err)
	}
}

func TestSimulatorForgetsOldOrders(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `}`)
	w.clock.Advance(orderRetention + time.Second)
	w.auth(`{` + ip + `}`)
	ans, _ := w.collect(a.OrderRef)
	w.wantError(ans, http.StatusBadRequest, bankid.ErrInvalidParameters)
}

func TestSimulatorAlreadyInProgress(t *testing.T) {
	w := newWire(t)
	req := `{` + ip + `,"requirement":{"personalNumber":"` + pnA + `"}}`
	first := w.auth(req)
	other := w.auth(`{` + ip + `,"requirement":{"personalNumber":"` + pnB + `"}}`)
	w.wantError(w.post("auth", req), http.StatusBadRequest, bankid.ErrAlreadyInProgress)
	w.wantState(first.OrderRef, bankid.StatusFailed, bankid.HintCancelled)
	w.wantState(other.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)
	// After a finished order the same person may start again.
	w.auth(req)
}

// An order without a requirement is that person's once they pick it up in
// the app: BankID counts open orders per person, not per requirement.
func TestSimulatorAlreadyInProgressAfterPickUp(t *testing.T) {
	w := newWire(t)
	open := w.auth(`{` + ip + `}`)
	if _, err := w.sim.Scan(PhoneRequest{QRStartToken: open.QRStartToken, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	req := `{` + ip + `,"requirement":{"personalNumber":"` + pnA + `"}}`
	w.wantError(w.post("auth", req), http.StatusBadRequest, bankid.ErrAlreadyInProgress)
	w.wantState(open.OrderRef, bankid.StatusFailed, bankid.HintCancelled)
	w.auth(req)
}

func TestSimulatorEnforcesRequiredPersonalNumber(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `,"requirement":{"personalNumber":"` + pnA + `"}}`)
	for _, req := range []PhoneRequest{
		{AutoStartToken: a.AutoStartToken, PersonalNumber: pnB},
		{QRStartToken: a.QRStartToken, PersonalNumber: pnC},
	} {
		_, err := w.sim.Approve(req)
		if !errors.Is(err, ErrPhoneWrongPerson) {
			t.Fatalf("Approve(%+v): err = %v, want ErrPhoneWrongPerson", req, err)
		}
		if strings.Contains(err.Error(), pnA) {
			t.Errorf("error shows the whole personal number: %v", err)
		}
	}
	if _, err := w.sim.Scan(PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnB}); !errors.Is(err, ErrPhoneWrongPerson) {
		t.Fatalf("Scan as another person: err = %v", err)
	}
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)
	if _, err := w.sim.Approve(PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	w.wantState(a.OrderRef, bankid.StatusComplete, "")
}

func TestSimulatorChecksQRCodes(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `}`)
	other := w.auth(`{` + ip + `}`)
	w.clock.Advance(5 * time.Second)

	refused := map[string]string{
		"stale (second 0)":          bankid.QRData(a.QRStartToken, a.QRStartSecret, 0),
		"stale (second 2)":          bankid.QRData(a.QRStartToken, a.QRStartSecret, 2),
		"from the future":           bankid.QRData(a.QRStartToken, a.QRStartSecret, 6),
		"forged: another secret":    bankid.QRData(a.QRStartToken, other.QRStartSecret, 5),
		"forged: flipped digit":     flipLast(bankid.QRData(a.QRStartToken, a.QRStartSecret, 5)),
		"forged: second changed":    strings.Replace(bankid.QRData(a.QRStartToken, a.QRStartSecret, 4), ".4.", ".5.", 1),
		"not a BankID code":         "https://example.se/",
		"short code":                "bankid." + a.QRStartToken + ".5.abc",
		"negative second":           "bankid." + a.QRStartToken + ".-1." + strings.Repeat("0", 64),
		"leading zero in the count": "bankid." + a.QRStartToken + ".05." + qrCode(a.QRStartSecret, "05"),
	}
	for name, qr := range refused {
		if _, err := w.sim.Approve(PhoneRequest{QR: qr, PersonalNumber: pnA}); !errors.Is(err, ErrPhoneQRRefused) {
			t.Errorf("%s: err = %v, want ErrPhoneQRRefused", name, err)
		}
	}
	if _, err := w.sim.Approve(PhoneRequest{QR: bankid.QRData("11111111-2222-4333-8444-555555555555", a.QRStartSecret, 5), PersonalNumber: pnA}); !errors.Is(err, ErrPhoneNoOrder) {
		t.Errorf("unknown token: err = %v", err)
	}
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)

	// The current second and two back are accepted.
	for _, sec := range []int{3, 4, 5} {
		if _, err := w.sim.Scan(PhoneRequest{QR: bankid.QRData(a.QRStartToken, a.QRStartSecret, sec)}); err != nil {
			t.Errorf("second %d at age 5: %v", sec, err)
		}
	}
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintUserSign)
}

// qrCode is the HMAC part of an animated QR string for the seconds count
// written as msg, computed here rather than by bankid.QRData so that a count
// QRData would never write ("05") can carry a code that verifies.
func qrCode(secret, msg string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestParseQRData(t *testing.T) {
	code := qrCode("secret", "42")
	s := bankid.QRData("67df3917-fa0d-44e5-b327-edcc928297f8", "secret", 42)
	if !strings.HasSuffix(s, "."+code) {
		t.Fatalf("QRData = %q, want the code %s at its end", s, code)
	}
	tok, sec, ok := parseQRData(s)
	if !ok || tok != "67df3917-fa0d-44e5-b327-edcc928297f8" || sec != 42 {
		t.Fatalf("parseQRData(%q) = %q %d %v", s, tok, sec, ok)
	}
	for _, bad := range []string{"", "bankid.", "bankid.a.1", "bankid..1." + code, "bankid.a.x." + code, "bankid.a.+1." + code, "bankid.a.1." + code + ".x", "BANKID.a.1." + code} {
		if _, _, ok := parseQRData(bad); ok {
			t.Errorf("parseQRData(%q) accepted it", bad)
		}
	}
}

// FuzzParseQRData feeds the phone's QR reader what a page or script may
// post: whatever it accepts is exactly bankid.<token>.<seconds>.<64 hex>,
// the shape bankid.QRData writes, with the seconds in canonical form.
func FuzzParseQRData(f *testing.F) {
	f.Add(bankid.QRData("67df3917-fa0d-44e5-b327-edcc928297f8", "secret", 42))
	f.Add("bankid.a.05." + strings.Repeat("0", 64))
	f.Add("bankid.a.-1." + strings.Repeat("0", 64))
	f.Add("https://example.se/")
	f.Fuzz(func(t *testing.T, s string) {
		token, seconds, ok := parseQRData(s)
		if !ok {
			return
		}
		prefix := "bankid." + token + "." + strconv.Itoa(seconds) + "."
		if token == "" || strings.Contains(token, ".") || seconds < 0 || !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+64 {
			t.Fatalf("parseQRData(%q) accepted it as token %q, second %d", s, token, seconds)
		}
	})
}

func flipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

func TestSimulatorPhoneRequestsNameOneOrder(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{` + ip + `}`)
	for _, req := range []PhoneRequest{
		{PersonalNumber: pnA},
		{AutoStartToken: a.AutoStartToken, QRStartToken: a.QRStartToken, PersonalNumber: pnA},
		{AutoStartToken: a.AutoStartToken},                                                 // no person, no requirement
		{AutoStartToken: a.AutoStartToken, PersonalNumber: "19990807"},                     // not 12 digits
		{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA, Risk: "extreme"},           // no such risk
		{AutoStartToken: a.AutoStartToken, HintCode: "user cancel"},                        // not a word
		{AutoStartToken: a.AutoStartToken, HintCode: strings.Repeat("x", 65)},              // too long
		{AutoStartToken: a.AutoStartToken, PersonalNumber: pnA, Name: "", HintCode: "a<b"}, // not a word
	} {
		if _, err := w.sim.Approve(req); !errors.Is(err, ErrPhoneBadRequest) {
			t.Errorf("Approve(%+v): err = %v, want ErrPhoneBadRequest", req, err)
		}
	}
	w.wantState(a.OrderRef, bankid.StatusPending, bankid.HintOutstandingTransaction)
}

func TestSimulatorFaultInjection(t *testing.T) {
	w := newWire(t)
	if err := w.sim.InjectFault("earthquake"); err == nil {
		t.Fatal("unknown fault accepted")
	}
	if err := w.sim.InjectFault(FaultMaintenance); err != nil {
		t.Fatal(err)
	}
	w.wantError(w.post("auth", `{`+ip+`}`), http.StatusServiceUnavailable, bankid.ErrMaintenance)
	// Without a client certificate it is still 401: TLS comes first.
	a := w.do(http.MethodPost, "/rp/v6.0/auth", "application/json", `{`+ip+`}`, nil)
	if a.status != http.StatusUnauthorized {
		t.Errorf("no certificate during a fault: %d", a.status)
	}
	if err := w.sim.InjectFault(FaultForbiddenHTML); err != nil {
		t.Fatal(err)
	}
	a = w.post("auth", `{`+ip+`}`)
	if a.status != http.StatusForbidden || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || !strings.Contains(a.body, "<h1>403 Forbidden</h1>") {
		t.Errorf("forbiddenHTML: %d %q %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	if err := w.sim.InjectFault(FaultNone); err != nil {
		t.Fatal(err)
	}
	w.auth(`{` + ip + `}`)
}

func TestSimulatorCompletionData(t *testing.T) {
	w := newWire(t)
	a := w.auth(`{"endUserIp":"2001:db8::9","requirement":{"mrtd":true}}`)
	if _, err := w.sim.Approve(PhoneRequest{AutoStartToken: a.AutoStartToken, PersonalNumber: pnB, Name: "Kim"}); err != nil {
		t.Fatal(err)
	}
	ans, r := w.collect(a.OrderRef)
	if ans.status != http.StatusOK {
		t.Fatal(ans.body)
	}
	// The simulator's answer decodes with the same strict decoder as BankID's.
	dec, err := bankid.DecodeCollect([]byte(ans.body))
	if err != nil {
		t.Fatalf("DecodeCollect(simulator answer): %v", err)
	}
	cd := dec.CompletionData
	if cd.User.PersonalNumber != pnB || cd.User.GivenName != "" || cd.User.Surname != "Kim" || cd.Device.IPAddress != "2001:db8::9" {
		t.Errorf("completionData = %+v", cd)
	}
	if cd.StepUp == nil || !cd.StepUp.MRTD {
		t.Errorf("stepUp = %+v, want mrtd true when required", cd.StepUp)
	}
	if cd.Risk != "" {
		t.Errorf("risk %q without returnRisk", cd.Risk)
	}
	if !strings.HasSuffix(cd.BankIDIssueDate.Raw, "Z") || cd.BankIDIssueDate.Date.IsZero() {
		t.Errorf("bankIdIssueDate = %+v", cd.BankIDIssueDate)
	}
	_ = r
}

func TestSimulatorOnTheRealClock(t *testing.T) {
	w := &wire{t: t, sim: New(), cert: testenv.DevPKI(t).RP}
	a := w.auth(`{` + ip + `}`)
	// A code made now is within the window however the second falls.
	if _, err := w.sim.Approve(PhoneRequest{QR: bankid.QRData(a.QRStartToken, a.QRStartSecret, 0), PersonalNumber: pnA}); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	w.wantState(a.OrderRef, bankid.StatusComplete, "")
	if got := maskPersonalNumber(pnA); got != "19990807-****" {
		t.Errorf("mask = %q", got)
	}
	if got := maskPersonalNumber("1999"); got != "****" {
		t.Errorf("mask of a short value = %q", got)
	}
}
