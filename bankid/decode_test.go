package bankid

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The only personal numbers tests use: Skatteverket's test numbers.
const (
	pnA = "199908072391"
	pnB = "198611239883"
	pnC = "200211242383"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeCollectFixtures(t *testing.T) {
	const ref = "131daac9-16c6-4618-beb0-365768f37288"

	r, err := DecodeCollect(readFixture(t, "collect_pending.json"))
	if err != nil || r.OrderRef != ref || r.Status != StatusPending || r.HintCode != HintOutstandingTransaction || r.CompletionData != nil {
		t.Errorf("pending: %+v, %v", r, err)
	}
	r, err = DecodeCollect(readFixture(t, "collect_pending_unknown_hint.json"))
	if err != nil || r.Status != StatusPending || r.HintCode != "userIsThinking" {
		t.Errorf("unknown hint must be kept: %+v, %v", r, err)
	}
	r, err = DecodeCollect(readFixture(t, "collect_failed.json"))
	if err != nil || r.Status != StatusFailed || r.HintCode != HintUserCancel {
		t.Errorf("failed: %+v, %v", r, err)
	}

	r, err = DecodeCollect(readFixture(t, "collect_complete_z.json"))
	if err != nil {
		t.Fatalf("complete (Z): %v", err)
	}
	cd := r.CompletionData
	want := CompletionData{
		User:            User{PersonalNumber: pnA, Name: "Karl Karlsson", GivenName: "Karl", Surname: "Karlsson"},
		Device:          Device{IPAddress: "192.168.0.1", UHI: "OZvYM9VvyiAmG7NA5jU5zqGcVpo="},
		StepUp:          &StepUp{MRTD: true},
		BankIDIssueDate: IssueDate{Date: time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC), Raw: "2020-02-01Z"},
		Signature:       "PHNpZ25hdHVyZS8+",
		OCSPResponse:    "b2NzcA==",
		Risk:            RiskLow,
	}
	if cd.User != want.User || cd.Device != want.Device || *cd.StepUp != *want.StepUp || cd.Signature != want.Signature ||
		cd.OCSPResponse != want.OCSPResponse || cd.Risk != want.Risk || cd.BankIDIssueDate.Raw != want.BankIDIssueDate.Raw ||
		!cd.BankIDIssueDate.Date.Equal(want.BankIDIssueDate.Date) {
		t.Errorf("complete (Z)\n got %+v\nwant %+v", *cd, want)
	}

	r, err = DecodeCollect(readFixture(t, "collect_complete_offset.json"))
	if err != nil {
		t.Fatalf("complete (offset): %v", err)
	}
	cd = r.CompletionData
	wantDay := time.Date(2023, 8, 9, 0, 0, 0, 0, time.FixedZone("", 2*60*60))
	if !cd.BankIDIssueDate.Date.Equal(wantDay) || cd.BankIDIssueDate.Date.Day() != 9 {
		t.Errorf("issue date with offset = %v, want %v", cd.BankIDIssueDate.Date, wantDay)
	}
	if cd.StepUp == nil || cd.StepUp.MRTD || cd.Risk != RiskHigh || cd.User.PersonalNumber != pnB || cd.Device.IPAddress != "2001:db8::1" {
		t.Errorf("complete (offset): %+v", *cd)
	}

	r, err = DecodeCollect(readFixture(t, "collect_complete_extra.json"))
	if err != nil {
		t.Fatalf("unknown fields must be ignored: %v", err)
	}
	cd = r.CompletionData
	if cd.User.PersonalNumber != pnC || cd.StepUp != nil || cd.Risk != "someFutureLevel" ||
		!cd.BankIDIssueDate.Date.Equal(time.Date(2025, 8, 9, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("complete (extra fields): %+v", *cd)
	}

	if _, err := DecodeCollect(readFixture(t, "collect_complete_without_user.json")); err == nil || !strings.Contains(err.Error(), "personalNumber") {
		t.Errorf("complete without a personal number: err = %v", err)
	}
}

func TestDecodeCollectRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":                 `<html>`,
		"array":                    `[]`,
		"no orderRef":              `{"status":"pending","hintCode":"started"}`,
		"unknown status":           `{"orderRef":"a","status":"done"}`,
		"uppercase status":         `{"orderRef":"a","status":"COMPLETE"}`,
		"complete without data":    `{"orderRef":"a","status":"complete"}`,
		"complete with null data":  `{"orderRef":"a","status":"complete","completionData":null}`,
		"completionData not obj":   `{"orderRef":"a","status":"complete","completionData":"x"}`,
		"user not an object":       `{"orderRef":"a","status":"complete","completionData":{"user":"199908072391"}}`,
		"issue date not a string":  `{"orderRef":"a","status":"complete","completionData":{"user":{"personalNumber":"199908072391"},"bankIdIssueDate":20200201}}`,
		"orderRef not a string":    `{"orderRef":1,"status":"pending"}`,
		"trailing garbage is fine": ``,
	} {
		if body == "" {
			continue
		}
		if r, err := DecodeCollect([]byte(body)); err == nil {
			t.Errorf("%s: accepted as %+v", name, r)
		}
	}
	if _, err := DecodeCollect(bytes.Repeat([]byte(" "), maxAnswerBytes+1)); err == nil {
		t.Error("oversized answer accepted")
	}
}

func TestDecodeCollectTolerates(t *testing.T) {
	for name, body := range map[string]string{
		"stepUp as a boolean": `{"orderRef":"a","status":"complete","completionData":{"user":{"personalNumber":"199908072391"},"stepUp":true}}`,
		"stepUp null":         `{"orderRef":"a","status":"complete","completionData":{"user":{"personalNumber":"199908072391"},"stepUp":null}}`,
		"odd issue date":      `{"orderRef":"a","status":"complete","completionData":{"user":{"personalNumber":"199908072391"},"bankIdIssueDate":"1st of May"}}`,
		"no hint":             `{"orderRef":"a","status":"pending"}`,
	} {
		if _, err := DecodeCollect([]byte(body)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseIssueDate(t *testing.T) {
	cases := map[string]time.Time{
		"2020-02-01":           time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC),
		"2020-02-01Z":          time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC),
		"2020-02-01+01:00":     time.Date(2020, 2, 1, 0, 0, 0, 0, time.FixedZone("", 3600)),
		"2020-02-01-05:00":     time.Date(2020, 2, 1, 0, 0, 0, 0, time.FixedZone("", -5*3600)),
		"2020-02-01T10:00:00Z": time.Date(2020, 2, 1, 10, 0, 0, 0, time.UTC),
	}
	for in, want := range cases {
		d := ParseIssueDate(in)
		if !d.Date.Equal(want) || d.Raw != in {
			t.Errorf("ParseIssueDate(%q) = %+v, want %v", in, d, want)
		}
		b, _ := json.Marshal(d)
		if string(b) != `"`+in+`"` {
			t.Errorf("marshal %q = %s", in, b)
		}
	}
	if d := ParseIssueDate("2020-13-45"); !d.Date.IsZero() || d.Raw != "2020-13-45" {
		t.Errorf("invalid date = %+v", d)
	}
	var zero IssueDate
	if !zero.IsZero() {
		t.Error("zero IssueDate is not zero")
	}
	b, _ := json.Marshal(IssueDate{Date: time.Date(2021, 5, 6, 0, 0, 0, 0, time.UTC)})
	if string(b) != `"2021-05-06Z"` {
		t.Errorf("marshal a Go date = %s", b)
	}
}

func TestParseErrorFixtures(t *testing.T) {
	cases := []struct {
		file    string
		status  int
		code    ErrorCode
		details string
	}{
		{"error_invalid_parameters.json", 400, ErrInvalidParameters, "No such order"},
		{"error_already_in_progress.json", 400, ErrAlreadyInProgress, "Order already in progress for pno"},
		{"error_maintenance.json", 503, ErrMaintenance, "Service unavailable, try again later"},
		{"error_unknown_code.json", 400, "somethingNewFromBankID", "A code this client does not know"},
		{"error_403.html", 403, ErrAccessDenied, "<html> <head><title>403 Forbidden</title></head>"},
	}
	for _, c := range cases {
		e := parseError("collect", c.status, readFixture(t, c.file))
		if e.Code != c.code || e.StatusCode != c.status || !strings.HasPrefix(e.Details, c.details) {
			t.Errorf("%s: %+v", c.file, e)
		}
		if !errors.Is(e, c.code) {
			t.Errorf("%s: errors.Is(err, %s) is false", c.file, c.code)
		}
	}
	// Without a BankID body the status decides.
	for status, code := range map[int]ErrorCode{
		401: ErrAccessDenied, 403: ErrAccessDenied, 429: ErrTooManyRequests, 503: ErrMaintenance,
		500: ErrInternalError, 408: ErrRequestTimeout, 502: ErrUnexpectedResponse, 302: ErrUnexpectedResponse,
	} {
		if e := parseError("auth", status, []byte("<html>gateway</html>")); e.Code != code {
			t.Errorf("non-JSON %d = %s, want %s", status, e.Code, code)
		}
	}
	// A JSON body without errorCode is not a BankID error either.
	if e := parseError("auth", 401, []byte(`{"type":"https://tools.ietf.org/html/rfc7235#section-3.1","status":401}`)); e.Code != ErrAccessDenied {
		t.Errorf("401 problem+json = %s", e.Code)
	}
	long := parseError("auth", 502, bytes.Repeat([]byte("x\n"), 1000))
	if len([]rune(long.Details)) > 201 || strings.Contains(long.Details, "\n") {
		t.Errorf("details not clipped: %d runes", len([]rune(long.Details)))
	}
	// Details are logged: a personal number BankID quotes is masked.
	quoted := parseError("auth", 400, []byte(`{"errorCode":"invalidParameters","details":"Invalid personalNumber 199908072391"}`))
	if strings.Contains(quoted.Error(), "2391") || !strings.Contains(quoted.Error(), "19990807-****") {
		t.Errorf("a quoted personal number: %q", quoted.Error())
	}
	if ErrMaintenance.Error() != "bankid: maintenance" {
		t.Errorf("ErrMaintenance.Error() = %q", ErrMaintenance.Error())
	}
	if got := (&APIError{Op: "auth", StatusCode: 503, Code: ErrMaintenance, Details: "later"}).Error(); got != "bankid: auth: 503 maintenance: later" {
		t.Errorf("Error() = %q", got)
	}
}

// FuzzDecodeCollect feeds the collect decoder arbitrary bodies, seeded with
// BankID-shaped answers. Whatever it accepts must keep the promises callers
// rely on.
func FuzzDecodeCollect(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "collect_") {
			f.Add(readFixture(f, e.Name()))
		}
	}
	f.Add([]byte(`{"orderRef":"a","status":"complete","completionData":{"user":{"personalNumber":"199908072391"},"stepUp":true,"bankIdIssueDate":"2020-02-01-05:00"}}`))
	f.Add([]byte(`{"orderRef":"a","status":"pending","hintCode":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeCollect(body)
		if err != nil {
			if r != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if r.OrderRef == "" {
			t.Fatal("accepted without orderRef")
		}
		switch r.Status {
		case StatusPending, StatusFailed:
			if r.CompletionData != nil {
				t.Fatal("completionData on a non-complete answer")
			}
		case StatusComplete:
			if r.CompletionData == nil || r.CompletionData.User.PersonalNumber == "" {
				t.Fatal("complete without a personal number")
			}
		default:
			t.Fatalf("accepted status %q", r.Status)
		}
		// What was accepted survives a round trip through our own encoding.
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		r2, err := DecodeCollect(again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		if r2.OrderRef != r.OrderRef || r2.Status != r.Status || r2.HintCode != r.HintCode {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
		if r.CompletionData != nil && r2.CompletionData.User != r.CompletionData.User {
			t.Fatalf("round trip changed the user %+v into %+v", r.CompletionData.User, r2.CompletionData.User)
		}
		_ = Message(string(r.Status), string(r.HintCode), "sv", false)
	})
}
