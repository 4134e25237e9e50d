package main

import (
	"fmt"
	"strings"
	"testing"
)

// addressing.md's examples, as `sigill addr` prints them.
func TestAddrExamples(t *testing.T) {
	cases := map[string]string{
		"0701234567&login=199908072391&":                  `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		"0701234567&login=199908072391&login=8611239883&": `{"channel":"sms","to":"+46701234567","logins":["198611239883","199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		"0701234567?login=199908072391":                   `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		"+46701234567&login=*&":                           `{"channel":"sms","to":"+46701234567","logins":[],"born":[],"anyone":true,"lang":"sv"}`,
		"anna.svensson=example.com&login=199908072391&":   `{"channel":"email","to":"anna.svensson@example.com","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		"anna%example.com&LOGIN=199908072391":             `{"channel":"email","to":"anna@example.com","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		"0701234567&login=19990807-2391&lang=en&":         `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"en"}`,
		"0701234567&login=990807*&":                       `{"channel":"sms","to":"+46701234567","logins":[],"born":["19990807"],"anyone":false,"lang":"sv"}`,
		"0701234567&login=199908072391&@secure.test":      `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`,
		`"anna.s@example.com&login=*&"@secure.test`:       `{"channel":"email","to":"anna.s@example.com","logins":[],"born":[],"anyone":true,"lang":"sv"}`,
		"0701234567&login=199908072391&exp=7d&reply=no&":  `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv","exp":"7d","reply":"no"}`,
	}
	for address, want := range cases {
		stdout, stderr, code := run(t, "", "addr", address)
		if code != 0 || strings.TrimSpace(stdout) != want {
			t.Errorf("sigill addr %q: exit %d\nstdout %s\nstderr %s\nwant   %s", address, code, stdout, stderr, want)
		}
	}
}

// Twenty addresses a staff member might get wrong; each refusal must say
// what is wrong in words they can act on, and exit 1 with nothing on stdout.
func TestAddrRefusals(t *testing.T) {
	cases := []struct{ address, says string }{
		{"0701234567&login=199908072391&@secure.example.se", "use an address at secure.test"},
		{"0701234567&login=199908072391&@gmail.com", "relay not permitted"},
		{"&login=199908072391&@secure.test", "no recipient before the first '&'"},
		{"login=199908072391&@secure.test", "no recipient before the first '&'"},
		{"08123456&login=199908072391&", "08123456 is not a mobile number in SE"},
		{"0701&login=199908072391&", "0701 is not a valid phone number in SE"},
		{"0701234567&login=199908072392&", "wrong check digit (expected 1)"},
		{"0701234567&login=19991307-2391&", "login=19991307-2391"},
		{"0701234567&login=19990832-2391&", "login=19990832-2391"},
		{"0701234567&login=1999080723&", "login=1999080723"},
		{"0701234567&login=abc&", "login=abc"},
		{"0701234567&login=&", "login="},
		{"0701234567&", "no login=; add &login=<personnummer>& or &login=*&"},
		{"0701234567&logni=199908072391&", "unknown key 'logni' (did you mean 'login'?); known keys: login, lang"},
		{"0701234567&login=199908072391&lang=de&", "lang"},
		{"0701234567&login199908072391&", "login199908072391"},
		{"anna=&login=199908072391&", "anna="},
		{"=example.com&login=199908072391&", "=example.com"},
		{"0701234567&login=19991307*&", "19991307"},
		{"0701234567&login=199908072391&login=198611239883" + manyBorn(19), "more than 20 logins"},
		{"0701234567&login=199908072391&exp=banana&", "exp=banana is not a lifetime; write a number and m, h, d or w, e.g. exp=7d"},
		{"0701234567&login=199908072391&exp=400d&", "exp=400d is longer than this gateway keeps messages (90d)"},
		{"0701234567&login=199908072391&exp=7d&exp=1d&", "exp= is given twice"},
		{"0701234567&login=199908072391&reply=maybe&", "reply=maybe is neither yes nor no"},
	}
	if len(cases) < 20 {
		t.Fatalf("%d cases; the issue asks for 20", len(cases))
	}
	for _, c := range cases {
		stdout, stderr, code := run(t, "", "addr", c.address)
		if code != 1 || stdout != "" {
			t.Errorf("sigill addr %q: exit %d, stdout %q; want exit 1 and nothing on stdout", c.address, code, stdout)
		}
		if !strings.Contains(stderr, c.says) || !strings.HasPrefix(stderr, "550 5.") {
			t.Errorf("sigill addr %q said %q; want a 550 reply saying %q", c.address, stderr, c.says)
		}
	}
}

// manyBorn writes n different login=YYYYMMDD* parameters (real dates).
func manyBorn(n int) string {
	var b strings.Builder
	for day := 1; day <= n; day++ {
		fmt.Fprintf(&b, "&login=199908%02d*", day)
	}
	return b.String()
}
