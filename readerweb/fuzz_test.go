package readerweb

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"sigill/vault"
)

// FuzzJSONEndpoints throws requests at the reader's routes for one real
// link: any method, any path below /m/<token>, any body, JSON or form.
// Nobody identifies with BankID here, so whatever arrives: no 5xx, no byte of
// the message's content in any answer, and no "opened" in the vault.
func FuzzJSONEndpoints(f *testing.F) {
	e := newEnv(f)
	const canary = "fuzz-kanariefågel-7c1e"
	id, token := e.accept("Provsvar", []byte("Subject: Provsvar\r\n\r\n"+canary+"\r\n"), recipient(pnA))
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, seed := range []struct {
		method uint8
		suffix string
		body   string
		json   bool
	}{
		{1, "/auth", "", true},
		{1, "/auth", `{"device":"other"}`, true},
		{0, "/auth", "", true},
		{0, "/message.json", "", true},
		{0, "", "", false},
		{1, "/cancel", "device=same", false},
		{0, "/att/0", "", false},
		{0, "/cid/0", "", false},
		{1, "/logout", "", false},
		{0, "/../../dev/bankid", "", false},
		{1, "/auth?lang=en", "\x00\xff{", true},
	} {
		f.Add(seed.method, seed.suffix, []byte(seed.body), seed.json)
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete}
	f.Fuzz(func(t *testing.T, method uint8, suffix string, body []byte, asJSON bool) {
		req, err := http.NewRequest(methods[int(method)%len(methods)], e.ts.URL+"/m/"+token+suffix, bytes.NewReader(body))
		if err != nil {
			return // not a URL at all: nothing reaches the server
		}
		if asJSON {
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %q: %v", req.Method, suffix, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: %s\n%s", req.Method, suffix, resp.Status, answer)
		}
		if bytes.Contains(answer, []byte(canary)) || strings.Contains(string(answer), "kanarief") {
			t.Fatalf("%s %q showed the message without BankID:\n%s", req.Method, suffix, answer)
		}
		events, err := e.v.Events(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.Kind == vault.EventOpened {
				t.Fatalf("%s %q recorded opened without BankID", req.Method, suffix)
			}
		}
	})
}
