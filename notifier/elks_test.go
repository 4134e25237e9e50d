package notifier

import (
	"encoding/json"
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
