package notifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// FuzzSearchElksPage: any answer to GET /a1/sms is read without a panic,
// and a match is an outgoing SMS with the number, text and an id.
func FuzzSearchElksPage(f *testing.F) {
	f.Add([]byte(`{"data":[{"id":"s17a6dafb12d6b1cabc053d57dac2b9d8","created":"2017-03-14T09:52:07.302000","direction":"outgoing","from":"MyService","to":"+46704508449","message":"Hello hello","status":"delivered","delivered":"2017-03-14T09:52:10Z","cost":3500}],"next":"2017-02-21T14:15:30.427000"}`),
		"+46704508449", "Hello hello")
	f.Add([]byte(`{"data":[{"id":"s1","direction":"incoming","to":"+46704508449","message":"Hours?"}]}`), "+46704508449", "Hours?")
	f.Add([]byte(`{"data":[]}`), "+46700000000", "x")
	f.Add([]byte(`{"data":null,"next":7}`), "", "")
	f.Add([]byte(`<html>`), "+46700000000", "x")
	f.Fuzz(func(t *testing.T, body []byte, to, text string) {
		sent, found, _, err := searchElksPage(body, SMS{To: to, Text: text})
		if !found {
			return
		}
		if err != nil || sent.ID == "" {
			t.Fatalf("found %+v with error %v", sent, err)
		}
		var page struct {
			Data []struct{ ID, Direction, To, Message string }
		}
		json.Unmarshal(body, &page)
		for _, d := range page.Data {
			if d.ID == sent.ID && d.Direction == "outgoing" && d.To == to && d.Message == text {
				return
			}
		}
		t.Fatalf("found %+v, which the page has not", sent)
	})
}

// FuzzParseReport: any delivery report posted to /hooks/sms is read by its
// provider without a panic; one without the provider's key or signature is
// refused, and a status the provider does not map changes nothing.
func FuzzParseReport(f *testing.F) {
	elks, err := NewElks(ElksOptions{URL: "http://127.0.0.1:1/a1/sms", Username: "u", Password: "p"})
	if err != nil {
		f.Fatal(err)
	}
	secret := []byte("a webhook secret of 16+ bytes")
	wh, err := NewWebhook(WebhookOptions{URL: "http://127.0.0.1:1/send", Secret: secret})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(true, "application/x-www-form-urlencoded", []byte("id=s1&status=delivered&delivered=2026-03-02T09%3A31%3A05.581795"))
	f.Add(true, "application/x-www-form-urlencoded", []byte("id=s1&status=exploded&%zz"))
	f.Add(false, "application/json", []byte(`{"id":"wh-1","status":"failed","delivered":"2026-03-02T09:31:00Z"}`))
	f.Add(false, "application/json; charset=utf-8", []byte(`{"id":7}`))
	f.Fuzz(func(t *testing.T, keyed bool, ctype string, body []byte) {
		for _, p := range []ReportParser{elks, wh} {
			req := httptest.NewRequest(http.MethodPost, elks.reportURL("http://127.0.0.1/hooks/sms"), bytes.NewReader(body))
			if !keyed {
				req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1/hooks/sms", bytes.NewReader(body))
			}
			req.Header.Set("Content-Type", ctype)
			if keyed {
				req.Header.Set(SignatureHeader, Sign(secret, body))
			}
			rep, err := p.ParseReport(req, body)
			switch {
			case !keyed && !errors.Is(err, ErrReportForbidden):
				t.Fatalf("%s: a report without its key or signature: %+v, %v", p.Name(), rep, err)
			case err != nil && !errors.Is(err, ErrReportForbidden) && !errors.Is(err, ErrReportMediaType) && !errors.Is(err, ErrReportMalformed):
				t.Fatalf("%s: an error the handler cannot answer: %v", p.Name(), err)
			case err == nil && rep.Status != StatusUnknown && !slices.Contains([]string{"created", "sent", "delivered", "failed"}, rep.Word):
				t.Fatalf("%s: status %q read as %v", p.Name(), rep.Word, rep.Status)
			}
		}
	})
}
