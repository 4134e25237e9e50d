package api

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/intake"
	"sigill/vault"
)

// FuzzDecodeSend drives the send request's decoder, the recipients' reading
// and the MIME build with outside input: no panic, every fault named by a
// field, and a request without faults always builds a message that intake
// takes as SMTP's DATA would.
func FuzzDecodeSend(f *testing.F) {
	for _, seed := range []string{
		`{"subject":"Provsvar","text":"Hej","recipients":[{"address":"0701234567&login=199908072391&"}]}`,
		`{"html":"<p>x</p>","lang":"en","reference":"r","recipients":[{"sms":"+46701234567","logins":["199908072391","19861123*"]},{"email":"a@example.com","logins":["*"]}]}`,
		`{"text":"x","attachments":[{"filename":"a.pdf","content_type":"application/pdf","content":"JVBERg=="}],"recipients":[{"address":"0701234567&login=*&@secure.test"}]}`,
		`{"text":"x","recipients":[{"sms":"0701234567&login=*"}]}`,
		`{"subject":"a\u0000b","recipients":5}`,
		`[]`, `{"bogus":1}`, `{} {}`,
	} {
		f.Add([]byte(seed))
	}
	s := New(options(nil, nil))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, faults, err := decodeSend(body)
		if err != nil {
			if !errors.Is(err, errNotJSON) || req != nil {
				t.Fatalf("decodeSend: %v with %v", err, req)
			}
			return
		}
		if req == nil {
			if len(faults) == 0 {
				t.Fatal("no request and no fault")
			}
			return
		}
		if intake.CheckErrand(req.Subject) != nil {
			return
		}
		recipients, more := s.recipients(req)
		faults = append(faults, more...)
		for _, f := range faults {
			if f.Detail == "" {
				t.Fatalf("a fault without its detail: %+v", f)
			}
		}
		if len(faults) > 0 {
			return
		}
		raw, err := s.build("anna@staff.test", req)
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		_, err = s.o.Rules.Incoming(intake.Message{Sender: "anna@staff.test", Account: "anna@staff.test", Raw: raw, Recipients: recipients})
		var large *intake.TooLargeError
		if err != nil && !errors.As(err, &large) {
			t.Fatalf("a request without faults was refused by intake: %v\n%s", err, raw)
		}
	})
}

// FuzzDecodeWebhook drives the webhook registration's decoder with outside
// input: no panic, every fault named by a field with its detail, and a
// registration without faults has an absolute http(s) URL without user
// or fragment, and known, distinct event types.
func FuzzDecodeWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"url":"https://journal.example.se/hooks/sigill","events":["message.opened","message.revoked"]}`,
		`{"url":"http://127.0.0.1:8099/"}`,
		`{"url":"https://u:p@x/#f","events":["message.read","message.read"]}`,
		`{"url":5}`, `{"url":"https://x","secret":"s"}`, `{"":1}`, `[]`, `{} {}`, `{"url":"https://[::1`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, u, faults, err := decodeWebhook(body)
		if err != nil {
			if !errors.Is(err, errNotJSON) || req != nil || u != nil || faults != nil {
				t.Fatalf("decodeWebhook: %v with %v %v %v", err, req, u, faults)
			}
			return
		}
		for _, f := range faults {
			if f.Field == "" || f.Detail == "" {
				t.Fatalf("a fault without its field or detail: %+v", f)
			}
		}
		if len(faults) > 0 {
			if u != nil {
				t.Fatal("a URL with faults")
			}
			return
		}
		if u == nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.Fragment != "" || len(req.URL) > maxWebhookURL {
			t.Fatalf("taken: %q", req.URL)
		}
		seen := map[string]bool{}
		for _, typ := range req.Events {
			if seen[typ] || !slices.Contains(knownWebhookTypes, typ) {
				t.Fatalf("taken: events %q", req.Events)
			}
			seen[typ] = true
		}
		if len(req.Events) == 0 {
			t.Fatal("no events")
		}
	})
}

// FuzzDecodeRevoke drives the withdrawal's decoder with outside input: no
// panic, every fault named by a field with its detail, and a request
// without faults holds only indexes from 0 and a reason the vault takes.
func FuzzDecodeRevoke(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"recipients":[0,2],"reason":"fel mottagare"}`, `{"recipients":[]}`, `{"recipients":[-1]}`,
		`{"recipients":"all"}`, `{"reason":"19990807-2391"}`, `{"recipient":0}`, `{} {}`, `[1]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, faults, err := decodeRevoke(body)
		if err != nil {
			if !errors.Is(err, errNotJSON) {
				t.Fatalf("decodeRevoke: %v", err)
			}
			return
		}
		for _, f := range faults {
			if f.Field == "" || f.Detail == "" {
				t.Fatalf("a fault without its field or detail: %+v", f)
			}
		}
		if len(faults) > 0 {
			return
		}
		for _, n := range req.Recipients {
			if n < 0 {
				t.Fatalf("index %d taken", n)
			}
		}
		if req.Recipients != nil && len(req.Recipients) == 0 {
			t.Fatal("an empty list taken")
		}
		if err := vault.CheckReason(req.Reason); err != nil {
			t.Fatalf("a reason the vault refuses taken: %v", err)
		}
	})
}

// FuzzAuditQuery drives GET /api/v1/audit's query reading with outside
// input: no panic; every fault names since, until or pnr; without faults
// the number is 12 digits (or none) and each time is the one written.
func FuzzAuditQuery(f *testing.F) {
	for _, seed := range []string{
		"pnr=199908072391&since=2026-12-01T00:00:00Z", "pnr=19990807-2391", "pnr=990807%2B2391",
		"since=yesterday&pnr=123", "until=2026-12-01T00:00:00%2B01:00", "pnr=%00", "since=&until=&pnr=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, faults := parseAuditQuery(q)
		for _, fe := range faults {
			if (fe.Field != "since" && fe.Field != "until" && fe.Field != "pnr") || fe.Detail == "" {
				t.Fatalf("a fault names %+v", fe)
			}
		}
		if len(faults) > 0 {
			return
		}
		if n := got.PersonalNumber; n != "" && (len(n) != 12 || strings.Trim(n, "0123456789") != "") {
			t.Fatalf("pnr %q read as %q", q.Get("pnr"), n)
		}
		for name, at := range map[string]time.Time{"since": got.Since, "until": got.Until} {
			if v := q.Get(name); v != "" {
				want, _ := time.Parse(time.RFC3339, v)
				if !at.Equal(want) {
					t.Fatalf("%s %q read as %v", name, v, at)
				}
			} else if !at.IsZero() {
				t.Fatalf("%s not given, read as %v", name, at)
			}
		}
	})
}

// FuzzDecodeExpiry drives the expiry change's decoder with outside input:
// no panic, every fault named by a field with its detail, and a request
// without faults asks for exactly one thing: a lifetime addressing's
// notation allows, or an instant.
func FuzzDecodeExpiry(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `{"expires_in":"7d"}`, `{"expires":"2026-12-24T12:00:00+01:00"}`, `{"expires_in":"7d","expires":"2026-12-24T12:00:00Z"}`,
		`{"expires_in":"3M"}`, `{"expires_in":"00000d"}`, `{"expires":"tomorrow"}`, `{"expires_in":7}`, `{"lifetime":"7d"}`, `{} {}`, `[1]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		change, faults, err := decodeExpiry(body)
		if err != nil {
			if !errors.Is(err, errNotJSON) {
				t.Fatalf("decodeExpiry: %v", err)
			}
			return
		}
		for _, f := range faults {
			if f.Field == "" || f.Detail == "" {
				t.Fatalf("a fault without its field or detail: %+v", f)
			}
		}
		if len(faults) > 0 {
			return
		}
		if (change.Lifetime > 0) == !change.At.IsZero() {
			t.Fatalf("a change taken with lifetime %v and instant %v", change.Lifetime, change.At)
		}
		if change.Lifetime > 0 && (change.Lifetime < time.Minute || change.Lifetime > 9999*7*24*time.Hour) {
			t.Fatalf("a lifetime of %v taken", change.Lifetime)
		}
	})
}
