package bankidsim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigill/bankid"
)

// qrWindow is how many seconds back the simulated phone accepts an animated
// QR code: the current second's code and two before it, which covers the
// page's one-second refresh and the time it takes to point a camera (or a
// script) at it. Older codes are refused as stale, as BankID does.
const qrWindow = 2

// PhoneRequest is what the simulated phone does to an order. It names the
// order in exactly one of three ways, as a phone would learn it:
// AutoStartToken (the autostart link), QR (the animated QR string, checked
// with the real HMAC and a time window), or QRStartToken (a dev shortcut
// that skips the HMAC check, part of the `sigill dev` contract).
type PhoneRequest struct {
	AutoStartToken string `json:"autoStartToken,omitempty"`
	QRStartToken   string `json:"qrStartToken,omitempty"`
	QR             string `json:"qr,omitempty"`
	// PersonalNumber is the person whose BankID approves (12 digits). It
	// may be left out when the order requires a personal number; it must
	// not differ from it.
	PersonalNumber string `json:"personalNumber,omitempty"`
	// Name is the person's name in completionData; "Test Testsson" when
	// empty. The last word is the surname.
	Name string `json:"name,omitempty"`
	// HintCode, when set, makes Approve fail the order with this hint
	// instead of completing it (userCancel, certificateErr, startFailed,
	// expiredTransaction, or any other code, to test unknown ones).
	HintCode string `json:"hintCode,omitempty"`
	// Risk is completionData.risk when the order asked for it: "low"
	// (default), "moderate" or "high".
	Risk string `json:"risk,omitempty"`
}

// PhoneResult is the order's state after a phone action.
type PhoneResult struct {
	OrderRef string          `json:"orderRef"`
	Status   bankid.Status   `json:"status"`
	HintCode bankid.HintCode `json:"hintCode,omitempty"`
}

// Errors of the simulated phone. The HTTP handler answers them with the
// status in brackets.
var (
	ErrPhoneBadRequest  = errors.New("bad phone request")                                   // [400]
	ErrPhoneNoOrder     = errors.New("no order has that token")                             // [404]
	ErrPhoneNotPending  = errors.New("the order is no longer pending")                      // [409]
	ErrPhoneQRRefused   = errors.New("QR code refused")                                     // [403]
	ErrPhoneWrongPerson = errors.New("the order requires another person's personal number") // [403]
)

// Scan opens the order in the app without deciding it: the hint becomes
// started (autostart token) or userSign (QR). It is what happens between
// the app starting and the user entering the security code, and is how tests
// see the hint progression.
func (s *Simulator) Scan(req PhoneRequest) (PhoneResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, viaQR, err := s.findForPhone(req, now)
	if err != nil {
		return PhoneResult{}, err
	}
	if req.PersonalNumber != "" && o.requiredPN != "" && req.PersonalNumber != o.requiredPN {
		return PhoneResult{}, fmt.Errorf("%w (%s)", ErrPhoneWrongPerson, maskPersonalNumber(o.requiredPN))
	}
	s.open(o, viaQR)
	if o.person == "" && validPersonalNumber(req.PersonalNumber) {
		o.person = req.PersonalNumber // the app knows whose BankID holds the order now
	}
	return PhoneResult{OrderRef: o.ref, Status: o.status, HintCode: o.hint}, nil
}

// Approve completes the order as req.PersonalNumber, or fails it with
// req.HintCode. An order that requires a personal number refuses any other
// one and stays pending: a real phone cannot pick up another person's order.
func (s *Simulator) Approve(req PhoneRequest) (PhoneResult, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	o, viaQR, err := s.findForPhone(req, now)
	if err != nil {
		return PhoneResult{}, err
	}
	if req.HintCode != "" {
		if !validHintCode(req.HintCode) {
			return PhoneResult{}, fmt.Errorf("%w: hintCode %q is not a word", ErrPhoneBadRequest, req.HintCode)
		}
		o.status, o.hint = bankid.StatusFailed, bankid.HintCode(req.HintCode)
		return PhoneResult{OrderRef: o.ref, Status: o.status, HintCode: o.hint}, nil
	}
	pn := req.PersonalNumber
	if pn == "" {
		pn = o.requiredPN
	}
	switch {
	case pn == "":
		return PhoneResult{}, fmt.Errorf("%w: personalNumber is required", ErrPhoneBadRequest)
	case !validPersonalNumber(pn):
		return PhoneResult{}, fmt.Errorf("%w: personalNumber must be 12 digits", ErrPhoneBadRequest)
	case o.requiredPN != "" && pn != o.requiredPN:
		return PhoneResult{}, fmt.Errorf("%w (%s)", ErrPhoneWrongPerson, maskPersonalNumber(o.requiredPN))
	}
	risk := bankid.RiskLow
	if req.Risk != "" {
		risk = bankid.Risk(req.Risk)
	}
	if risk != bankid.RiskLow && risk != bankid.RiskModerate && risk != bankid.RiskHigh {
		return PhoneResult{}, fmt.Errorf("%w: risk must be low, moderate or high", ErrPhoneBadRequest)
	}
	if !o.returnRisk {
		// BankID reports risk only to an RP that asked for it.
		risk = ""
	}
	s.open(o, viaQR)
	o.status, o.hint = bankid.StatusComplete, ""
	o.completion = simCompletion(o, pn, req.Name, risk, now)
	return PhoneResult{OrderRef: o.ref, Status: o.status}, nil
}

// Cancel is the user pressing Cancel in the app: the order fails with
// userCancel.
func (s *Simulator) Cancel(req PhoneRequest) (PhoneResult, error) {
	req.HintCode = string(bankid.HintUserCancel)
	return s.Approve(req)
}

// findForPhone finds the pending order req names and, for a QR string,
// checks it. Called with s.mu held.
func (s *Simulator) findForPhone(req PhoneRequest, now time.Time) (o *simOrder, viaQR bool, err error) {
	named := 0
	for _, v := range []string{req.AutoStartToken, req.QRStartToken, req.QR} {
		if v != "" {
			named++
		}
	}
	if named != 1 {
		return nil, false, fmt.Errorf("%w: give exactly one of autoStartToken, qrStartToken and qr", ErrPhoneBadRequest)
	}
	var ok bool
	var t int
	switch {
	case req.AutoStartToken != "":
		o, ok = s.byAutoStart[req.AutoStartToken]
	case req.QRStartToken != "":
		o, ok = s.byQRToken[req.QRStartToken]
		viaQR = true
	default:
		var token string
		token, t, ok = parseQRData(req.QR)
		if !ok {
			return nil, false, fmt.Errorf("%w: not a BankID QR code", ErrPhoneQRRefused)
		}
		o, ok = s.byQRToken[token]
		viaQR = true
	}
	if !ok {
		return nil, false, ErrPhoneNoOrder
	}
	s.expire(o, now)
	if o.status != bankid.StatusPending {
		return nil, false, fmt.Errorf("%w (%s: %s)", ErrPhoneNotPending, o.status, o.hint)
	}
	if req.QR != "" {
		if !hmac.Equal([]byte(req.QR), []byte(bankid.QRData(o.qrStartToken, o.qrStartSecret, t))) {
			return nil, false, fmt.Errorf("%w: the code does not verify", ErrPhoneQRRefused)
		}
		age := int(now.Sub(o.created) / time.Second)
		if t > age || t < age-qrWindow {
			return nil, false, fmt.Errorf("%w: the code is for second %d, the order is %d s old", ErrPhoneQRRefused, t, age)
		}
	}
	return o, viaQR, nil
}

// parseQRData splits a QR string into its token and seconds, as the phone
// reads the code; ok is false for anything not shaped like bankid.QRData's
// output. Whether the code verifies is for the caller, which knows the
// order's secret.
func parseQRData(s string) (token string, seconds int, ok bool) {
	rest, found := strings.CutPrefix(s, "bankid.")
	if !found {
		return "", 0, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || parts[0] == "" || len(parts[2]) != sha256.Size*2 {
		return "", 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 || strconv.Itoa(n) != parts[1] {
		return "", 0, false
	}
	return parts[0], n, true
}

// open marks the order as picked up by the app. Called with s.mu held.
func (s *Simulator) open(o *simOrder, viaQR bool) {
	if o.opened {
		return
	}
	o.opened = true
	if viaQR {
		o.hint = bankid.HintUserSign
	} else {
		o.hint = bankid.HintStarted
	}
}

// simCompletion makes completionData in BankID's shape. Signature and OCSP
// response are placeholders that no verifier would accept.
func simCompletion(o *simOrder, pn, name string, risk bankid.Risk, now time.Time) *bankid.CompletionData {
	if strings.TrimSpace(name) == "" {
		name = "Test Testsson"
	}
	words := strings.Fields(name)
	given, surname := strings.Join(words[:len(words)-1], " "), words[len(words)-1]
	uhi := make([]byte, 20)
	_, _ = rand.Read(uhi)
	cd := &bankid.CompletionData{
		User:            bankid.User{PersonalNumber: pn, Name: strings.Join(words, " "), GivenName: given, Surname: surname},
		Device:          bankid.Device{IPAddress: o.endUserIP, UHI: base64.StdEncoding.EncodeToString(uhi)},
		BankIDIssueDate: bankid.IssueDate{Raw: now.UTC().AddDate(-1, 0, 0).Format("2006-01-02Z07:00")},
		Signature:       base64.StdEncoding.EncodeToString([]byte("<simulated-signature order=\"" + o.ref + "\"/>")),
		OCSPResponse:    base64.StdEncoding.EncodeToString([]byte("simulated-ocsp-response " + o.ref)),
		Risk:            risk,
	}
	if o.requireMRTD {
		cd.StepUp = &bankid.StepUp{MRTD: true}
	}
	return cd
}

// validHintCode accepts a hint code a test may ask for: one word of letters.
func validHintCode(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// PhoneHandler serves the simulated phone for people and scripts:
//
//	GET  /dev/bankid          a page listing pending orders with approve and cancel forms
//	POST /dev/bankid/approve  PhoneRequest → PhoneResult (approve, or fail with hintCode)
//	POST /dev/bankid/cancel   PhoneRequest → PhoneResult (userCancel)
//	POST /dev/bankid/scan     PhoneRequest → PhoneResult (open the order in the app)
//	POST /dev/bankid/fault    {"fault": "maintenance"} injects a fault; "" clears it
//
// The POST routes take JSON (unknown fields refused) and answer JSON; a bad
// request is answered {"error": "..."} with 400, an unknown token with 404,
// a finished order with 409, a refused QR code or person with 403. They
// also take the page's form posts and then redirect back to the page. Mount
// the handler at both "/dev/bankid" and "/dev/bankid/".
func (s *Simulator) PhoneHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dev/bankid", s.servePhonePage)
	mux.HandleFunc("POST /dev/bankid/approve", s.phoneAction(s.Approve))
	mux.HandleFunc("POST /dev/bankid/cancel", s.phoneAction(s.Cancel))
	mux.HandleFunc("POST /dev/bankid/scan", s.phoneAction(s.Scan))
	mux.HandleFunc("POST /dev/bankid/fault", s.serveFaultSwitch)
	return mux
}

func phoneErrorStatus(err error) int {
	switch {
	case errors.Is(err, ErrPhoneNoOrder):
		return http.StatusNotFound
	case errors.Is(err, ErrPhoneNotPending):
		return http.StatusConflict
	case errors.Is(err, ErrPhoneQRRefused), errors.Is(err, ErrPhoneWrongPerson):
		return http.StatusForbidden
	default:
		return http.StatusBadRequest
	}
}

// isForm reports whether a POST came from the page's forms rather than a
// script.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded"
}

func (s *Simulator) phoneAction(action func(PhoneRequest) (PhoneResult, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		var req PhoneRequest
		if isForm(r) {
			if err := r.ParseForm(); err != nil {
				phoneRedirect(w, r, "bad form: "+err.Error())
				return
			}
			req = PhoneRequest{
				AutoStartToken: r.PostForm.Get("autoStartToken"),
				QRStartToken:   r.PostForm.Get("qrStartToken"),
				QR:             r.PostForm.Get("qr"),
				PersonalNumber: r.PostForm.Get("personalNumber"),
				Name:           r.PostForm.Get("name"),
				HintCode:       r.PostForm.Get("hintCode"),
				Risk:           r.PostForm.Get("risk"),
			}
			res, err := action(req)
			if err != nil {
				phoneRedirect(w, r, err.Error())
				return
			}
			phoneRedirect(w, r, fmt.Sprintf("order %s: %s %s", shortRef(res.OrderRef), res.Status, res.HintCode))
			return
		}
		if err := decodeStrictJSON(r, &req); err != nil {
			writePhoneError(w, http.StatusBadRequest, err.Error())
			return
		}
		res, err := action(req)
		if err != nil {
			writePhoneError(w, phoneErrorStatus(err), err.Error())
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Simulator) serveFaultSwitch(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	var req struct {
		Fault Fault `json:"fault"`
	}
	form := isForm(r)
	if form {
		if err := r.ParseForm(); err != nil {
			phoneRedirect(w, r, "bad form: "+err.Error())
			return
		}
		req.Fault = Fault(r.PostForm.Get("fault"))
	} else if err := decodeStrictJSON(r, &req); err != nil {
		writePhoneError(w, http.StatusBadRequest, err.Error())
		return
	}
	err := s.InjectFault(req.Fault)
	switch {
	case form && err != nil:
		phoneRedirect(w, r, err.Error())
	case form:
		phoneRedirect(w, r, fmt.Sprintf("fault set to %q", req.Fault))
	case err != nil:
		writePhoneError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, req)
	}
}

func decodeStrictJSON(r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return errors.New("send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if dec.More() {
		return errors.New("bad JSON: more than one value")
	}
	return nil
}

func writePhoneError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func phoneRedirect(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/dev/bankid?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

func shortRef(ref string) string {
	if i := strings.IndexByte(ref, '-'); i > 0 {
		return ref[:i]
	}
	return ref
}

type phonePageOrder struct {
	Short, AutoStartToken, QRStartToken string
	Age                                 int
	Hint                                bankid.HintCode
	Required                            string // masked
	Text                                string
}

func (s *Simulator) servePhonePage(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	var orders []phonePageOrder
	created := map[string]time.Time{}
	for _, o := range s.orders {
		s.expire(o, now)
		if o.status != bankid.StatusPending {
			continue
		}
		p := phonePageOrder{
			Short:          shortRef(o.ref),
			AutoStartToken: o.autoStartToken,
			QRStartToken:   o.qrStartToken,
			Age:            int(now.Sub(o.created) / time.Second),
			Hint:           o.hint,
			Text:           o.visibleText,
		}
		if o.requiredPN != "" {
			p.Required = maskPersonalNumber(o.requiredPN)
		}
		created[o.autoStartToken] = o.created
		orders = append(orders, p)
	}
	fault := s.fault
	s.mu.Unlock()
	slices.SortFunc(orders, func(a, b phonePageOrder) int {
		return created[a.AutoStartToken].Compare(created[b.AutoStartToken])
	})

	faults := make([]string, 0, len(faultStatus))
	for f := range faultStatus {
		faults = append(faults, string(f))
	}
	slices.Sort(faults)

	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	_ = phonePage.Execute(w, map[string]any{
		"Done":   r.URL.Query().Get("done"),
		"Orders": orders,
		"Fault":  string(fault),
		"Faults": faults,
		"Hints":  []bankid.HintCode{bankid.HintUserCancel, bankid.HintCertificateErr, bankid.HintStartFailed, bankid.HintExpiredTransaction, bankid.HintCancelled},
	})
}

var phonePage = template.Must(template.New("phone").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BankID simulator – phone</title>
<style>
body{font:16px/1.4 system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem;color:#111}
section{border:1px solid #999;border-radius:.4rem;padding:.5rem 1rem;margin:1rem 0}
form{margin:.5rem 0}label{display:inline-block;margin:.2rem .6rem .2rem 0}
code{font-size:.85em;word-break:break-all}
</style>
</head>
<body>
<h1>BankID simulator – phone</h1>
<p>Development only. This page acts as the user's BankID app for orders the simulator holds. <a href="/dev/bankid">Reload</a></p>
{{with .Done}}<p role="status"><strong>{{.}}</strong></p>{{end}}
{{with .Fault}}<p role="alert">Injected fault: <strong>{{.}}</strong> (every RP API request fails)</p>{{end}}
<h2>Pending orders</h2>
{{range .Orders}}
<section>
<h3>Order {{.Short}}</h3>
<p>Age {{.Age}} s · hint <code>{{.Hint}}</code>{{with .Required}} · only for {{.}}{{end}}</p>
{{with .Text}}<p>Shown in the app: {{.}}</p>{{end}}
<p>autoStartToken <code>{{.AutoStartToken}}</code><br>qrStartToken <code>{{.QRStartToken}}</code></p>
<form method="post" action="/dev/bankid/approve">
<input type="hidden" name="autoStartToken" value="{{.AutoStartToken}}">
<label>Personal number <input name="personalNumber" inputmode="numeric" pattern="[0-9]{12}" placeholder="YYYYMMDDNNNN" autocomplete="off"></label>
<label>Name <input name="name" placeholder="Test Testsson" autocomplete="off"></label>
<label>Risk <select name="risk"><option value="">low</option><option>moderate</option><option>high</option></select></label>
<label>Outcome <select name="hintCode"><option value="">approve</option>{{range $.Hints}}<option>{{.}}</option>{{end}}</select></label>
<button type="submit">Send</button>
</form>
<form method="post" action="/dev/bankid/scan"><input type="hidden" name="autoStartToken" value="{{.AutoStartToken}}"><button type="submit">Open in app (started)</button></form>
<form method="post" action="/dev/bankid/cancel"><input type="hidden" name="autoStartToken" value="{{.AutoStartToken}}"><button type="submit">Cancel in app</button></form>
</section>
{{else}}
<p>No pending orders.</p>
{{end}}
<h2>Scan a QR code</h2>
<form method="post" action="/dev/bankid/approve">
<label>QR string <input name="qr" size="50" placeholder="bankid.…" autocomplete="off"></label>
<label>Personal number <input name="personalNumber" inputmode="numeric" pattern="[0-9]{12}" placeholder="YYYYMMDDNNNN" autocomplete="off"></label>
<button type="submit">Approve</button>
</form>
<h2>Fault injection</h2>
<form method="post" action="/dev/bankid/fault">
<label>Fault <select name="fault"><option value="">none</option>{{range .Faults}}<option{{if eq . $.Fault}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<button type="submit">Set</button>
</form>
<h2>For scripts</h2>
<pre>POST /dev/bankid/approve  {"autoStartToken": "…", "personalNumber": "YYYYMMDDNNNN"}
POST /dev/bankid/approve  {"qrStartToken": "…", "personalNumber": "…", "name": "…"}
POST /dev/bankid/approve  {"qr": "bankid.…", "personalNumber": "…"}
POST /dev/bankid/approve  {"autoStartToken": "…", "hintCode": "certificateErr"}
POST /dev/bankid/cancel   {"autoStartToken": "…"}
POST /dev/bankid/fault    {"fault": "maintenance"}</pre>
</body>
</html>
`))
