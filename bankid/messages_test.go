package bankid

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestMessageCode(t *testing.T) {
	cases := []struct {
		status, hint string
		qr           bool
		want         RFA
	}{
		{"pending", "outstandingTransaction", true, RFA1},
		{"pending", "outstandingTransaction", false, RFA13},
		{"pending", "noClient", true, RFA1},
		{"pending", "noClient", false, RFA13},
		{"pending", "started", false, RFA15B},
		{"pending", "started", true, RFA21},
		{"pending", "userSign", true, RFA9},
		{"pending", "userSign", false, RFA9},
		{"pending", "userMrtd", false, RFA23},
		{"pending", "processing", false, RFA21},
		{"pending", "somethingNew", true, RFA21},
		{"pending", "", false, RFA21},
		{"failed", "expiredTransaction", true, RFA8},
		{"failed", "certificateErr", false, RFA16},
		{"failed", "userCancel", true, RFA6},
		{"failed", "cancelled", false, RFA3},
		{"failed", "startFailed", true, RFA17B},
		{"failed", "startFailed", false, RFA17A},
		{"failed", "transactionRiskBlocked", false, RFA22},
		{"failed", "somethingNew", false, RFA22},
		{"complete", "", false, ""},
		{"weird", "userSign", false, RFA22},
	}
	for _, c := range cases {
		if got := MessageCode(c.status, c.hint, c.qr); got != c.want {
			t.Errorf("MessageCode(%s, %s, qr=%v) = %s, want %s", c.status, c.hint, c.qr, got, c.want)
		}
	}
}

func TestMessageTexts(t *testing.T) {
	for rfa, text := range rfaTexts {
		if text.sv == "" || text.en == "" || text.sv == text.en {
			t.Errorf("%s: sv %q, en %q", rfa, text.sv, text.en)
		}
		if rfa.Text("sv") != text.sv || rfa.Text("sv-SE") != text.sv || rfa.Text("SV") != text.sv {
			t.Errorf("%s: Swedish not chosen for sv", rfa)
		}
		if rfa.Text("en") != text.en || rfa.Text("") != text.en || rfa.Text("de") != text.en {
			t.Errorf("%s: English is not the fallback", rfa)
		}
	}
	if got := Message("pending", "userSign", "sv", true); got != "Skriv in din säkerhetskod i BankID-appen och välj Identifiera eller Skriv under." {
		t.Errorf("RFA9 sv = %q", got)
	}
	if got := Message("failed", "userCancel", "en", false); got != "Action cancelled." {
		t.Errorf("RFA6 en = %q", got)
	}
	if got := Message("complete", "", "sv", false); got != "" {
		t.Errorf("complete has a message: %q", got)
	}
	if RFA("RFA99").Text("sv") != "" {
		t.Error("unknown RFA has a text")
	}
}

func TestErrorMessageCode(t *testing.T) {
	api := func(code ErrorCode) error {
		return fmt.Errorf("starting BankID: %w", &APIError{Op: "auth", StatusCode: 400, Code: code})
	}
	cases := []struct {
		err  error
		want RFA
	}{
		{nil, ""},
		{api(ErrAlreadyInProgress), RFA4},
		{api(ErrRequestTimeout), RFA5},
		{api(ErrInternalError), RFA5},
		{api(ErrMaintenance), RFA5},
		{api(ErrTooManyRequests), RFA5},
		{api(ErrInvalidParameters), RFA22},
		{api(ErrUnauthorized), RFA22},
		{api(ErrNotFound), RFA22},
		{api(ErrMethodNotAllowed), RFA22},
		{api(ErrUnsupportedMediaType), RFA22},
		{api(ErrAccessDenied), RFA22},
		{api("somethingNew"), RFA22},
		{context.DeadlineExceeded, RFA5},
		{errors.New("connection refused"), RFA5},
	}
	for _, c := range cases {
		if got := ErrorMessageCode(c.err); got != c.want {
			t.Errorf("ErrorMessageCode(%v) = %s, want %s", c.err, got, c.want)
		}
	}
	if ErrorMessage(api(ErrMaintenance), "sv") != "Internt tekniskt fel. Försök igen." {
		t.Errorf("RFA5 sv = %q", ErrorMessage(api(ErrMaintenance), "sv"))
	}
}
