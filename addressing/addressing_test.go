package addressing

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Personal numbers in these tests are Skatteverket's published test numbers
// (199908072391, 198611239883, 200211242383, the 1903 series 190312049802,
// and the test samordningsnummer listed in personnummer_test.go), forms
// derived from them, or deliberately invalid variants of them. Never add a
// number made up at random: it may belong to a real person.

// today is the fixed date of every test policy: after every published test
// number used here, so none of them is in the future.
var today = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

func testPolicy() Policy {
	return Policy{
		Domains: []string{"secure.example.se", "secure.test"},
		Region:  "SE",
		Now:     func() time.Time { return today },
	}
}

func sms(to string, logins ...string) Recipient {
	if logins == nil {
		logins = []string{}
	}
	return Recipient{Channel: SMS, To: to, Logins: logins, Born: []string{}, Lang: "sv"}
}

func email(to string, logins ...string) Recipient {
	r := sms(to, logins...)
	r.Channel = Email
	return r
}

// TestSpecExamples is the Examples table of addressing.md, read both as a
// full address and as a bare local part.
func TestSpecExamples(t *testing.T) {
	anyone := sms("+46701234567")
	anyone.Anyone = true
	english := sms("+46701234567", "199908072391")
	english.Lang = "en"
	born := sms("+46701234567")
	born.Born = []string{"19990807"}
	week := sms("+46701234567", "199908072391")
	week.Exp, week.Reply = Lifetime(7*24*time.Hour), RepliesNo

	tests := []struct {
		local string
		want  Recipient
	}{
		{"0701234567&login=199908072391&", sms("+46701234567", "199908072391")},
		{"0701234567&login=199908072391&login=8611239883&", sms("+46701234567", "198611239883", "199908072391")},
		{"0701234567?login=199908072391", sms("+46701234567", "199908072391")},
		{"+46701234567&login=*&", anyone},
		{"anna.svensson=example.com&login=199908072391&", email("anna.svensson@example.com", "199908072391")},
		{"anna%example.com&LOGIN=199908072391", email("anna@example.com", "199908072391")},
		{"0701234567&login=19990807-2391&lang=en&", english},
		{"0701234567&login=990807*&", born},
		{"0701234567&login=199908072391&exp=7d&reply=no&", week},
	}
	p := testPolicy()
	for _, tt := range tests {
		t.Run(tt.local, func(t *testing.T) {
			for _, address := range []string{tt.local + "@secure.example.se", tt.local + "@secure.test"} {
				got, err := p.Parse(address)
				if err != nil {
					t.Fatalf("Parse(%q): %v", address, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Parse(%q) =\n %+v, want\n %+v", address, got, tt.want)
				}
			}
			got, err := p.ParseLocal(tt.local)
			if err != nil {
				t.Fatalf("ParseLocal(%q): %v", tt.local, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLocal(%q) =\n %+v, want\n %+v", tt.local, got, tt.want)
			}
			again, err := p.ParseLocal(got.LocalPart())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseLocal(LocalPart() = %q) = %+v, %v; want %+v", got.LocalPart(), again, err, got)
			}
		})
	}
}

// TestSpecJSON is the `sigill addr` line of addressing.md.
func TestSpecJSON(t *testing.T) {
	r, err := testPolicy().Parse("0701234567&login=199908072391&@secure.example.se")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
}

// TestQuotedLocalPart: a quoted local part reads the same with its quotes
// and without them (go-smtp removes them before Rcpt sees the address).
func TestQuotedLocalPart(t *testing.T) {
	p := testPolicy()
	want, err := p.Parse("anna.s=example.com&login=*&@secure.example.se")
	if err != nil {
		t.Fatal(err)
	}
	for _, address := range []string{
		`"anna.s@example.com&login=*&"@secure.example.se`,
		`anna.s@example.com&login=*&@secure.example.se`,
		`<"anna.s@example.com&login=*&"@secure.example.se>`,
		`  anna.s@example.com&login=*&@SECURE.example.se  `,
		`"anna.s@example.com&login=*&"@secure.example.se.`,
		`"anna.s\@example.com&login=*&"@secure.example.se`,
	} {
		got, err := p.Parse(address)
		if err != nil {
			t.Errorf("Parse(%q): %v", address, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", address, got, want)
		}
	}
	if want.To != "anna.s@example.com" || !want.Anyone {
		t.Errorf("anna.s=example.com&login=*& = %+v", want)
	}
}

type refusalCase struct {
	name     string
	address  string
	enhanced [3]int
	says     []string // each must be in the reason
}

func checkRefusal(t *testing.T, tt refusalCase, r Recipient, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%q accepted as %+v; want a refusal", tt.address, r)
	}
	var ref *Refusal
	if !errors.As(err, &ref) {
		t.Fatalf("%q: error %T %v is not a *Refusal", tt.address, err, err)
	}
	if ref.Code != 550 || ref.Enhanced != tt.enhanced {
		t.Errorf("%q: %d %v, want 550 %v (%v)", tt.address, ref.Code, ref.Enhanced, tt.enhanced, err)
	}
	if ref.Address != tt.address {
		t.Errorf("%q: Refusal.Address = %q", tt.address, ref.Address)
	}
	for _, s := range tt.says {
		if !strings.Contains(ref.Reason, s) {
			t.Errorf("%q: reason %q does not say %q", tt.address, ref.Reason, s)
		}
	}
	if !reflect.DeepEqual(r, Recipient{}) {
		t.Errorf("%q: refused but returned %+v", tt.address, r)
	}
}

// TestSpecErrors is the Errors table of addressing.md, one row or more per
// fault.
func TestSpecErrors(t *testing.T) {
	const d = "@secure.example.se"
	tests := []refusalCase{
		{"not a gateway domain", "0701234567&login=199908072391&@example.com", relayDenied,
			[]string{"relay not permitted; use an address at secure.example.se"}},
		{"not a gateway domain, bad local part too", "x@example.com", relayDenied,
			[]string{"relay not permitted"}},
		{"empty target", "&login=199908072391&" + d, badAddress,
			[]string{"no recipient before the first '&'; write a mobile number or name=domain"}},
		{"empty target, ?", "?login=199908072391" + d, badAddress,
			[]string{"no recipient before the first '&'"}},
		{"key where the target goes", "login=199908072391&" + d, badAddress,
			[]string{"no recipient before the first '&'", "login=199908072391 is a parameter", "write a mobile number or name=domain"}},
		{"key where the target goes, any case", "LANG=en&login=*&" + d, badAddress,
			[]string{"no recipient before the first '&'"}},
		{"neither phone nor e-mail", "anna.svensson&login=199908072391&" + d, badAddress,
			[]string{"no recipient before the first '&'", "anna.svensson is neither a mobile number nor name=domain"}},
		{"landline", "08123456&login=199908072391&" + d, badAddress,
			[]string{"08123456 is not a mobile number in SE", "write a mobile number"}},
		{"wrong check digit", "0701234567&login=199908072392&" + d, badAddress,
			[]string{"login=199908072392 has a wrong check digit (expected 1)", "check the whole number"}},
		{"date fault", "0701234567&login=19991307-2391&" + d, badAddress,
			[]string{"login=19991307-2391", "1999-13-07 is not a date", "month 13"}},
		{"missing login", "0701234567&" + d, badAddress,
			[]string{"no login=; add &login=<personnummer>& or &login=*&"}},
		{"missing login, no separator", "0701234567" + d, badAddress,
			[]string{"no login=; add &login=<personnummer>& or &login=*&"}},
		{"missing login, lang only", "0701234567&lang=en&" + d, badAddress,
			[]string{"no login="}},
		{"unknown key", "0701234567&login=199908072391&logni=199908072391&" + d, badAddress,
			[]string{"unknown key 'logni'", "known keys: login, lang", "did you mean 'login'"}},
		{"unknown key instead of login", "0701234567&logni=199908072391&" + d, badAddress,
			[]string{"unknown key 'logni'", "known keys: login, lang"}},
		{"too many logins", "0701234567&" + manyBorn(21) + d, badAddress,
			[]string{"more than 20 logins"}},
		{"bad lifetime", "0701234567&login=199908072391&exp=banana&" + d, badAddress,
			[]string{"exp=banana is not a lifetime; write a number and m, h, d or w, e.g. exp=7d"}},
		{"lifetime too long", "0701234567&login=199908072391&exp=400d&" + d, badAddress,
			[]string{"exp=400d is longer than this gateway keeps messages (90d)"}},
		{"a key given twice", "0701234567&login=199908072391&exp=7d&exp=1d&" + d, badAddress,
			[]string{"exp= is given twice"}},
	}
	p := testPolicy()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := p.Parse(tt.address)
			checkRefusal(t, tt, r, err)
			if tt.enhanced == badAddress {
				local := strings.TrimSuffix(tt.address, d)
				r, err := p.ParseLocal(local)
				checkRefusal(t, refusalCase{tt.name, local, tt.enhanced, tt.says}, r, err)
			}
		})
	}
}

// manyBorn is n different login=YYYYMMDD* parameters. Birth dates, not
// personal numbers: a list of distinct valid numbers would mean making them
// up.
func manyBorn(n int) string {
	var b strings.Builder
	day := time.Date(1999, 8, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		fmt.Fprintf(&b, "login=%s*&", day.AddDate(0, 0, i).Format("20060102"))
	}
	return b.String()
}

func TestRefusalText(t *testing.T) {
	_, err := testPolicy().Parse("0701234567&login=199908072392&@secure.example.se")
	const want = "550 5.1.3 <0701234567&login=199908072392&@secure.example.se>: login=199908072392 has a wrong check digit (expected 1)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want it to begin %q", err.Error(), want)
	}
	_, err = testPolicy().ParseLocal("0701234567&login=1999\r\n250 ok")
	if text := err.(*Refusal).Text(); strings.ContainsAny(text, "\r\n") || !strings.HasPrefix(text, "<0701234567&login=1999??250 ok>: login=1999??250 ok") {
		t.Errorf("Text() = %q", text)
	}
	_, err = testPolicy().Parse("0701234567&login=199908072391&@example.com")
	const relay = "550 5.7.1 <0701234567&login=199908072391&@example.com>: relay not permitted; use an address at secure.example.se"
	if err.Error() != relay {
		t.Errorf("Error() = %q, want %q", err.Error(), relay)
	}
}

func TestLogins(t *testing.T) {
	p := testPolicy()
	tests := []struct {
		local  string
		logins []string
		born   []string
		anyone bool
	}{
		{"0701234567&login=199908072391&login=199908072391&", []string{"199908072391"}, nil, false},
		{"0701234567&login=199908072391&login=19990807-2391&login=9908072391&login=990807-2391&", []string{"199908072391"}, nil, false},
		{"0701234567&login=200211242383&login=198611239883&login=199908072391&", []string{"198611239883", "199908072391", "200211242383"}, nil, false},
		{"0701234567&login=*&", nil, nil, true},
		{"0701234567&login=*&login=199908072391&", []string{"199908072391"}, nil, true},
		{"0701234567&login=199908072391&login=*&login=*&", []string{"199908072391"}, nil, true},
		{"0701234567&login=19990807*&", nil, []string{"19990807"}, false},
		{"0701234567&login=990807*&login=19990807*&", nil, []string{"19990807"}, false},
		{"0701234567&login=20000229*&", nil, []string{"20000229"}, false}, // leap year
		{"0701234567&login=000229*&", nil, []string{"20000229"}, false},
		{"0701234567&login=19700163*&", nil, []string{"19700163"}, false}, // samordningsnummer day + 60, kept as written
		{"0701234567&login=19150072*&", nil, []string{"19150072"}, false},
		{"0701234567&login=19861123*&login=199908072391&login=19990807*&", []string{"199908072391"}, []string{"19861123", "19990807"}, false},
		{"0701234567&login=990807*&login=*&", nil, []string{"19990807"}, true},
	}
	for _, tt := range tests {
		r, err := p.ParseLocal(tt.local)
		if err != nil {
			t.Errorf("ParseLocal(%q): %v", tt.local, err)
			continue
		}
		if tt.logins == nil {
			tt.logins = []string{}
		}
		if tt.born == nil {
			tt.born = []string{}
		}
		if !reflect.DeepEqual(r.Logins, tt.logins) || !reflect.DeepEqual(r.Born, tt.born) || r.Anyone != tt.anyone {
			t.Errorf("ParseLocal(%q) = logins %v born %v anyone %v; want %v %v %v", tt.local, r.Logins, r.Born, r.Anyone, tt.logins, tt.born, tt.anyone)
		}
	}
}

func TestMaxLogins(t *testing.T) {
	p := testPolicy()
	if _, err := p.ParseLocal("0701234567&" + manyBorn(20)); err != nil {
		t.Errorf("20 logins: %v", err)
	}
	// Duplicates count once.
	if _, err := p.ParseLocal("0701234567&" + manyBorn(20) + manyBorn(20) + "login=*&"); err != nil {
		t.Errorf("20 logins given twice, and *: %v", err)
	}
	// Numbers and birth dates count together.
	three := "login=199908072391&login=198611239883&login=200211242383&"
	if _, err := p.ParseLocal("0701234567&" + three + manyBorn(17)); err != nil {
		t.Errorf("3 numbers + 17 dates: %v", err)
	}
	_, err := p.ParseLocal("0701234567&" + three + manyBorn(18))
	checkRefusal(t, refusalCase{"", "0701234567&" + three + manyBorn(18), badAddress, []string{"more than 20 logins"}}, Recipient{}, err)

	p.MaxLogins = 2
	local := "0701234567&" + three
	_, err = p.ParseLocal(local)
	checkRefusal(t, refusalCase{"", local, badAddress, []string{"more than 2 logins"}}, Recipient{}, err)
}

func TestPolicy(t *testing.T) {
	t.Run("default login *", func(t *testing.T) {
		p := testPolicy()
		p.DefaultLogin = "*"
		r, err := p.Parse("0701234567@secure.test")
		if err != nil || !r.Anyone {
			t.Errorf("Parse = %+v, %v; want anyone", r, err)
		}
		r, err = p.Parse("0701234567&login=199908072391&@secure.test")
		if err != nil || r.Anyone {
			t.Errorf("login= given: %+v, %v; want not anyone", r, err)
		}
	})
	t.Run("default login other than *", func(t *testing.T) {
		p := testPolicy()
		p.DefaultLogin = "199908072391"
		_, err := p.ParseLocal("0701234567")
		checkRefusal(t, refusalCase{"", "0701234567", badAddress, []string{"no login="}}, Recipient{}, err)
	})
	t.Run("default lang", func(t *testing.T) {
		p := testPolicy()
		p.DefaultLang = "en"
		r, err := p.ParseLocal("0701234567&login=*")
		if err != nil || r.Lang != "en" {
			t.Errorf("%+v, %v; want lang en", r, err)
		}
		r, err = p.ParseLocal("0701234567&login=*&lang=sv")
		if err != nil || r.Lang != "sv" {
			t.Errorf("%+v, %v; want lang sv", r, err)
		}
	})
	t.Run("default lang, any case", func(t *testing.T) {
		p := testPolicy()
		p.DefaultLang = "EN"
		r, err := p.ParseLocal("0701234567&login=*")
		if err != nil || r.Lang != "en" {
			t.Errorf("%+v, %v; want lang en", r, err)
		}
		if again, err := p.ParseLocal(r.LocalPart()); err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("round trip: %+v, %v", again, err)
		}
	})
	t.Run("domains without case, ASCII only", func(t *testing.T) {
		local := "0701234567&login=*@\u017fecure.test" // ſecure.test folds to secure.test in Unicode
		_, err := testPolicy().Parse(local)
		checkRefusal(t, refusalCase{"", local, relayDenied, []string{"relay not permitted"}}, Recipient{}, err)
	})
	t.Run("domains without case", func(t *testing.T) {
		p := testPolicy()
		p.Domains = []string{"SECURE.Example.SE"}
		if _, err := p.Parse("0701234567&login=*@secure.example.SE"); err != nil {
			t.Error(err)
		}
		if !p.IsGatewayDomain("secure.example.se.") || p.IsGatewayDomain("example.se") || p.IsGatewayDomain("") {
			t.Error("IsGatewayDomain")
		}
	})
	t.Run("no domain", func(t *testing.T) {
		_, err := testPolicy().Parse("0701234567&login=*")
		checkRefusal(t, refusalCase{"", "0701234567&login=*", badAddress, []string{"no domain", "@secure.example.se"}}, Recipient{}, err)
	})
	t.Run("no domains configured", func(t *testing.T) {
		_, err := Policy{}.Parse("0701234567&login=*@secure.test")
		checkRefusal(t, refusalCase{"", "0701234567&login=*@secure.test", relayDenied, []string{"relay not permitted", "smtp.domains"}}, Recipient{}, err)
	})
	t.Run("zero policy defaults", func(t *testing.T) {
		p := Policy{Domains: []string{"secure.test"}}
		r, err := p.Parse("0701234567&login=199908072391@secure.test")
		if err != nil || r.Lang != "sv" || r.To != "+46701234567" {
			t.Errorf("%+v, %v", r, err)
		}
	})
	t.Run("other region", func(t *testing.T) {
		p := testPolicy()
		p.Region = "GB"
		r, err := p.ParseLocal("07911123456&login=*")
		if err != nil || r.To != "+447911123456" {
			t.Errorf("%+v, %v", r, err)
		}
		r, err = p.ParseLocal("46701234567&login=*")
		if err != nil || r.To != "+46701234567" {
			t.Errorf("46701234567 in GB: %+v, %v", r, err)
		}
	})
}

func TestSeparatorsAndKeys(t *testing.T) {
	want := sms("+46701234567", "199908072391")
	want.Lang = "en"
	p := testPolicy()
	for _, local := range []string{
		"0701234567&login=199908072391&lang=en&",
		"0701234567&login=199908072391&lang=en",
		"0701234567?login=199908072391?lang=en",
		"0701234567?login=199908072391&lang=en?",
		"0701234567&&login=199908072391&&&lang=en&&",
		"0701234567&Login=199908072391&LANG=EN&",
		"0701234567&lang=en&login=199908072391",
		"0701234567&lang=en&lang=en&login=199908072391",
		" 0701234567 & login = 199908072391 & lang = en & ",
	} {
		r, err := p.ParseLocal(local)
		if err != nil || !reflect.DeepEqual(r, want) {
			t.Errorf("ParseLocal(%q) = %+v, %v; want %+v", local, r, err, want)
		}
	}
}

func TestParamFaults(t *testing.T) {
	tests := []refusalCase{
		{"", "0701234567&199908072391&", badAddress, []string{"199908072391 has no key", "write login=199908072391"}},
		{"", "0701234567&login&", badAddress, []string{"login has no '='", "key=value", "known keys: login, lang"}},
		{"", "0701234567&=199908072391&", badAddress, []string{"has no key before '='", "known keys: login, lang"}},
		{"", "0701234567&to=anna&login=*", badAddress, []string{"unknown key 'to'; known keys: login, lang"}},
		{"", "0701234567&login=&", badAddress, []string{"login= is empty", "login=*"}},
		{"", "0701234567&login=*&lang=fi&", badAddress, []string{"lang=fi", "write lang=sv or lang=en"}},
		{"", "0701234567&login=*&lang=&", badAddress, []string{"lang=", "write lang=sv or lang=en"}},
		{"", "0701234567&login=*&lang=sv&lang=en", badAddress, []string{"lang= is given twice (sv and en)"}},
		{"", "0701234567&login=199908072391,198611239883&", badAddress, []string{"login=199908072391,198611239883", "give each number its own login="}},
		{"", "0701234567&login=1999-08-07*&", badAddress, []string{"not a birth date", "YYYYMMDD*"}},
		{"", "0701234567&login=1999087*&", badAddress, []string{"7 digits", "YYYYMMDD*"}},
		{"", "0701234567&login=19991307*&", badAddress, []string{"1999-13-07 is not a date"}},
		{"", "0701234567&login=19990229*&", badAddress, []string{"1999-02-29 is not a date", "not a leap year"}},
		{"", "0701234567&login=20991231*&", badAddress, []string{"2099-12-31", "future"}},
		{"", "0701234567&login=**&", badAddress, []string{"not a birth date"}},
		{"", "0701234567&login=19990807-23\x0091&", badAddress, []string{`'\x00' is not a digit`}},
	}
	p := testPolicy()
	for _, tt := range tests {
		r, err := p.ParseLocal(tt.address)
		checkRefusal(t, tt, r, err)
	}
	// A reason never carries a control character, nor the whole of a very
	// long piece.
	r, err := p.ParseLocal("0701234567&lang=" + strings.Repeat("x", 500) + "\r\n")
	checkRefusal(t, refusalCase{"", "0701234567&lang=" + strings.Repeat("x", 500) + "\r\n", badAddress, []string{"..."}}, r, err)
	if reason := err.(*Refusal).Reason; strings.ContainsAny(reason, "\r\n") || len(reason) > 200 {
		t.Errorf("reason %q", reason)
	}
}

func TestPhone(t *testing.T) {
	p := testPolicy()
	for _, target := range []string{
		"0701234567", "070-1234567", "070-123 45 67", "+46701234567", "0046701234567", "46701234567", "+46 70 123 45 67",
	} {
		r, err := p.ParseLocal(target + "&login=*")
		if err != nil || r.To != "+46701234567" || r.Channel != SMS {
			t.Errorf("%q: %+v, %v; want SMS +46701234567", target, r, err)
		}
	}
	for target, want := range map[string]string{
		"+447911123456":  "+447911123456", // a UK mobile
		"00447911123456": "+447911123456",
		"+12015550123":   "+12015550123", // US: FIXED_LINE_OR_MOBILE
	} {
		r, err := p.ParseLocal(target + "&login=*")
		if err != nil || r.To != want {
			t.Errorf("%q: %+v, %v; want %s", target, r, err, want)
		}
	}
	for target, says := range map[string]string{
		"08123456":             "08123456 is not a mobile number in SE",
		"08-123 456":           "08-123 456 is not a mobile number in SE",
		"+468123456":           "+468123456 is not a mobile number in SE",
		"0701234":              "0701234 is not a valid phone number in SE",
		"070123456789":         "070123456789 is not a valid phone number in SE",
		"+999123456":           "+999123456 is not a valid phone number; check the country code",
		"00":                   "00 is not a valid phone number",
		"0":                    "0 is not a valid phone number in SE",
		"+4670123456789012345": "is not a valid phone number",
	} {
		local := target + "&login=*"
		r, err := p.ParseLocal(local)
		checkRefusal(t, refusalCase{"", local, badAddress, []string{says}}, r, err)
	}
	// Not phone-shaped: neither phone nor e-mail.
	for _, target := range []string{"+", "-0701234567", "0701+234567", "070/1234567", "(070)1234567", "0701234567x"} {
		local := target + "&login=*"
		r, err := p.ParseLocal(local)
		checkRefusal(t, refusalCase{"", local, badAddress, []string{"no recipient before the first '&'", "neither a mobile number nor name=domain"}}, r, err)
	}
}

func TestEmail(t *testing.T) {
	p := testPolicy()
	for target, want := range map[string]string{
		"anna.svensson=example.com":   "anna.svensson@example.com",
		"anna%example.com":            "anna@example.com",
		"Anna.Svensson=Example.COM":   "Anna.Svensson@example.com",
		"anna=b=example.com":          "anna=b@example.com",
		"anna%b=example.com":          "anna%b@example.com",
		"anna=b%example.com":          "anna=b@example.com",
		"anna+tag=mail.example.co.uk": "anna+tag@mail.example.co.uk",
		"o'brien=example.ie":          "o'brien@example.ie",
		"anna=exämple.se":             "anna@xn--exmple-cua.se",
		"anna.s@example.com":          "anna.s@example.com",
		"x=y@example.com":             "x=y@example.com",
		"anna=sub.secure.test":        "anna@sub.secure.test",
	} {
		r, err := p.ParseLocal(target + "&login=*")
		if err != nil || r.To != want || r.Channel != Email {
			t.Errorf("%q: %+v, %v; want e-mail %s", target, r, err, want)
			continue
		}
		again, err := p.ParseLocal(r.LocalPart())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("%q: LocalPart %q reads as %+v, %v", target, r.LocalPart(), again, err)
		}
	}
	for target, says := range map[string]string{
		"=example.com":           "there is no name before '='",
		"anna=":                  "there is no domain after '='",
		"anna=example":           "example is not a domain name (no dot)",
		"anna=example..com":      "empty label",
		"anna=-example.com":      "begins or ends with '-'",
		"anna=exa_mple.com":      "'_' cannot be in a domain name",
		"anna=199908072391":      "not a domain name",
		"anna=10.0.0.1":          "the last label is all digits",
		"anna..s=example.com":    "empty part between dots",
		".anna=example.com":      "empty part between dots",
		"an na=example.com":      "holds ' '",
		"åsa=example.se":         "holds 'å'",
		"a(b)=example.com":       "holds '('",
		"anna@b=example.com":     "holds '@'",
		"anna=secure.test":       "anna@secure.test is an address at this gateway",
		"anna=SECURE.example.se": "anna@secure.example.se is an address at this gateway",
	} {
		local := target + "&login=*"
		r, err := p.ParseLocal(local)
		checkRefusal(t, refusalCase{"", local, badAddress, []string{says}}, r, err)
		if err != nil && !strings.Contains(err.Error(), "is an address at this gateway") && !strings.Contains(err.Error(), "write name=domain") {
			t.Errorf("%q: %v does not say how to mend it", target, err)
		}
	}
	long := strings.Repeat("a", 65) + "=example.com"
	_, err := p.ParseLocal(long + "&login=*")
	checkRefusal(t, refusalCase{"", long + "&login=*", badAddress, []string{"more than 64"}}, Recipient{}, err)
}

func TestLocalPart(t *testing.T) {
	r := Recipient{Channel: SMS, To: "+46701234567", Logins: []string{"199908072391"}, Born: []string{}, Lang: "sv"}
	if got, want := r.LocalPart(), "+46701234567&login=199908072391&lang=sv&"; got != want {
		t.Errorf("LocalPart = %q, want %q", got, want)
	}
	r = Recipient{Channel: Email, To: "anna.svensson@example.com", Logins: []string{"198611239883", "199908072391"}, Born: []string{"20021124"}, Anyone: true, Lang: "en"}
	if got, want := r.LocalPart(), "anna.svensson=example.com&login=198611239883&login=199908072391&login=20021124*&login=*&lang=en&"; got != want {
		t.Errorf("LocalPart = %q, want %q", got, want)
	}
	// The round trip holds whatever the policy's defaults.
	p := testPolicy()
	p.DefaultLogin, p.DefaultLang = "*", "en"
	got, err := testPolicy().ParseLocal(r.LocalPart())
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("ParseLocal(%q) = %+v, %v", r.LocalPart(), got, err)
	}
	anyone, err := p.ParseLocal("0701234567")
	if err != nil {
		t.Fatal(err)
	}
	got, err = testPolicy().ParseLocal(anyone.LocalPart())
	if err != nil || !reflect.DeepEqual(got, anyone) {
		t.Errorf("ParseLocal(%q) = %+v, %v; want %+v", anyone.LocalPart(), got, err, anyone)
	}
}

func TestAllows(t *testing.T) {
	r := Recipient{Logins: []string{"198611239883", "199908072391"}, Born: []string{"20021124"}}
	for pn, want := range map[string]bool{
		"199908072391": true,
		"198611239883": true,
		"200211242383": true, // born 2002-11-24
		"199908072392": false,
		"19990807":     false,
		"":             false,
		"9908072391":   false, // only the 12-digit form BankID returns
	} {
		if got := r.Allows(pn); got != want {
			t.Errorf("Allows(%q) = %v, want %v", pn, got, want)
		}
	}
	r.Anyone = true
	if !r.Allows("200211242383") || !r.Allows("198611239883") {
		t.Error("anyone does not allow")
	}
	if (Recipient{}).Allows("199908072391") {
		t.Error("the zero Recipient allows someone")
	}
}

// Each refusal says which kind of fault it is, in a word fit for a metric's
// label, and the kind picks the enhanced status code.
func TestRefusalKinds(t *testing.T) {
	p := Policy{Domains: []string{"secure.example.se"}, Region: "SE", MaxLogins: 2}
	for _, c := range []struct {
		address string
		kind    RefusalKind
	}{
		{"0701234567&login=199908072391&@example.com", RefusedNotOurDomain},
		{"0701234567@secure.example.se", RefusedNoLogin},
		{"&login=199908072391&@secure.example.se", RefusedBadRecipient},
		{"0701234567&login=199908072391&colour=red@secure.example.se", RefusedBadParameter},
		{"0701234567&login=19990807239@secure.example.se", RefusedBadLogin},
		{"0701234567&login=199908072391&login=198611239883&login=200211242383@secure.example.se", RefusedTooManyLogins},
		{"0701234567&login=199908072391", RefusedMalformed},
	} {
		_, err := p.Parse(c.address)
		var refusal *Refusal
		if !errors.As(err, &refusal) || refusal.Kind != c.kind {
			t.Errorf("%s: %v; want a refusal of kind %s", c.address, err, c.kind)
			continue
		}
		if want := (c.kind == RefusedNotOurDomain); (refusal.Enhanced == [3]int{5, 7, 1}) != want {
			t.Errorf("%s: enhanced code %v for kind %s", c.address, refusal.Enhanced, c.kind)
		}
		if !slices.Contains(RefusalKinds, c.kind) {
			t.Errorf("RefusalKinds lacks %s", c.kind)
		}
	}
}

// TestExpAndReply: every value of exp= and reply= that addressing.md's
// grammar allows is read, and every other is refused with what is wrong
// and how to write it.
func TestExpAndReply(t *testing.T) {
	const base = "0701234567&login=199908072391&"
	accepted := []struct {
		params string
		exp    time.Duration
		reply  Replies
	}{
		{"exp=1m", time.Minute, ""},
		{"exp=90m", 90 * time.Minute, ""},
		{"exp=9999m", 9999 * time.Minute, ""},
		{"exp=36h", 36 * time.Hour, ""},
		{"exp=7d", 7 * 24 * time.Hour, ""},
		{"exp=0007d", 7 * 24 * time.Hour, ""},
		{"exp=7D", 7 * 24 * time.Hour, ""},
		{"EXP=2w", 14 * 24 * time.Hour, ""},
		{"exp=12W", 84 * 24 * time.Hour, ""},
		{"exp=90d", 90 * 24 * time.Hour, ""},   // the limit itself
		{"exp=2160h", 90 * 24 * time.Hour, ""}, // the same, in hours
		{"exp = 1h ", time.Hour, ""},
		{"exp=7d&exp=168h", 7 * 24 * time.Hour, ""}, // one value written twice
		{"reply=no", 0, RepliesNo},
		{"reply=NO", 0, RepliesNo},
		{"Reply=Yes", 0, RepliesYes},
		{"reply=no&reply=no", 0, RepliesNo},
		{"exp=1m&reply=no", time.Minute, RepliesNo},
		{"reply=yes?exp=1h", time.Hour, RepliesYes},
	}
	p := testPolicy()
	for _, tt := range accepted {
		r, err := p.ParseLocal(base + tt.params)
		if err != nil {
			t.Errorf("%s: %v", tt.params, err)
			continue
		}
		if r.Exp.Duration() != tt.exp || r.Reply != tt.reply {
			t.Errorf("%s: exp %v reply %q; want %v %q", tt.params, r.Exp.Duration(), r.Reply, tt.exp, tt.reply)
		}
		if r.Reply.Allowed() != (tt.reply != RepliesNo) {
			t.Errorf("%s: replies allowed %v", tt.params, r.Reply.Allowed())
		}
	}

	refused := []struct{ params, says string }{
		{"exp=", "exp= is empty; write a number and m, h, d or w, e.g. exp=7d"},
		{"exp=banana", "exp=banana is not a lifetime"},
		{"exp=d", "exp=d is not a lifetime"},
		{"exp=-1d", "exp=-1d is not a lifetime"},
		{"exp=+7d", "exp=+7d is not a lifetime"},
		{"exp=7", "exp=7 has no unit"},
		{"exp=7 d", "exp=7 d is not a lifetime"},
		{"exp=7dd", "exp=7dd is not a lifetime"},
		{"exp=7days", "exp=7days is not a lifetime"},
		{"exp=1.5d", "exp=1.5d is not a lifetime"},
		{"exp=7s", "exp=7s has the unit s"},
		{"exp=7y", "exp=7y has the unit y"},
		{"exp=3M", "M could mean minutes or months; write exp=3m for minutes"},
		{"exp=0m", "exp=0m is no time at all"},
		{"exp=0000d", "exp=0000d is no time at all"},
		{"exp=10000m", "more than 4 digits; write it in a larger unit"},
		{"exp=00001d", "more than 4 digits"},
		{"exp=１d", "exp=１d is not a lifetime"}, // fullwidth digit: digits are exact
		{"exp=7d\x00", `exp=7d? is not a lifetime`},
		{"exp=91d", "exp=91d is longer than this gateway keeps messages (90d); write at most exp=90d"},
		{"exp=13w", "exp=13w is longer than this gateway keeps messages (90d)"},
		{"exp=2161h", "exp=2161h is longer"},
		{"exp=9999w", "exp=9999w is longer"},
		{"exp=7d&exp=1d", "exp= is given twice (7d and 1d); keep one"},
		{"exp=1h&exp=61m", "exp= is given twice (1h and 61m)"},
		{"reply=", "reply= is neither yes nor no"},
		{"reply=maybe", "reply=maybe is neither yes nor no; write reply=no"},
		{"reply=false", "reply=false is neither yes nor no"},
		{"reply=0", "reply=0 is neither yes nor no"},
		{"reply=no&reply=yes", "reply= is given twice (no and yes); keep one"},
		{"exq=7d", "unknown key 'exq' (did you mean 'exp'?); known keys: login, lang, exp, reply"},
		{"replay=no", "unknown key 'replay' (did you mean 'reply'?)"},
		{"expires=7d", "unknown key 'expires'; known keys: login, lang, exp, reply"},
	}
	for _, tt := range refused {
		local := base + tt.params
		r, err := p.ParseLocal(local)
		checkRefusal(t, refusalCase{tt.params, local, badAddress, []string{tt.says}}, r, err)
	}

	// A key where the recipient belongs is no recipient.
	for _, local := range []string{"exp=7d&login=*", "reply=no&login=*"} {
		r, err := p.ParseLocal(local)
		checkRefusal(t, refusalCase{local, local, badAddress, []string{"no recipient before the first '&'", "is a parameter"}}, r, err)
	}

	// The limit is the policy's: vault.max_retention.
	p.MaxLifetime = 720 * time.Hour
	if _, err := p.ParseLocal(base + "exp=30d"); err != nil {
		t.Errorf("exp=30d with a limit of 30 days: %v", err)
	}
	r, err := p.ParseLocal(base + "exp=31d")
	checkRefusal(t, refusalCase{"", base + "exp=31d", badAddress, []string{"longer than this gateway keeps messages (30d)"}}, r, err)
	p.MaxLifetime = 36 * time.Hour
	r, err = p.ParseLocal(base + "exp=2d")
	checkRefusal(t, refusalCase{"", base + "exp=2d", badAddress, []string{"(36h); write at most exp=36h"}}, r, err)
}

// TestLifetimeText: the text form of a Lifetime reads back as itself, in
// the largest unit that divides it, and the JSON of a Recipient carries it.
func TestLifetimeText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "", time.Minute: "1m", 90 * time.Minute: "90m", 36 * time.Hour: "36h", 48 * time.Hour: "2d",
		14 * 24 * time.Hour: "14d", 9999 * 7 * 24 * time.Hour: "9999w", 90 * 24 * time.Hour: "90d", 9999 * time.Minute: "9999m", 30 * time.Second: "1m",
	} {
		if got := Lifetime(d).String(); got != want {
			t.Errorf("Lifetime(%v) = %q, want %q", d, got, want)
		}
		if want == "" || d%time.Minute != 0 {
			continue
		}
		if back, err := ParseLifetime(want); err != nil || back.Duration() != d {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v", want, back, err, d)
		}
	}
	r, err := testPolicy().ParseLocal("0701234567&login=199908072391&exp=168h&reply=no")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	const want = `{"channel":"sms","to":"+46701234567","logins":["199908072391"],"born":[],"anyone":false,"lang":"sv","exp":"7d","reply":"no"}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Recipient
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("JSON reads back as %+v, %v; want %+v", back, err, r)
	}
}
