package staffweb

import (
	"strings"
	"testing"
	"unicode/utf8"

	"sigill/addressing"
)

var linePolicy = addressing.Policy{Domains: []string{"secure.test"}, Region: "SE"}

func TestRecipientLines(t *testing.T) {
	for line, want := range map[string]string{
		// number or address, then who may open it
		"0701234567 199908072391":                 "+46701234567&login=199908072391&lang=en&",
		"070-1234567 199908072391, 19861123-9883": "+46701234567&login=198611239883&login=199908072391&lang=en&",
		"anna.svensson@example.com *":             "anna.svensson=example.com&login=*&lang=en&",
		"0701234567;990807*":                      "+46701234567&login=19990807*&lang=en&",
		// the address syntax, with or without the domain
		"0701234567&login=199908072391&":               "+46701234567&login=199908072391&lang=en&",
		"0701234567?login=199908072391&lang=sv":        "+46701234567&login=199908072391&lang=sv&",
		"anna=example.com&login=*&@secure.test":        "anna=example.com&login=*&lang=en&",
		"anna@example.com&login=*&exp=7d&":             "anna=example.com&login=*&lang=en&exp=7d&",
		"  0701234567&login=199908072391&reply=yes&  ": "+46701234567&login=199908072391&lang=en&reply=yes&",
	} {
		_, r, err := readLine(linePolicy, line, lineOptions{Lang: "en"})
		if err != nil || r.LocalPart() != want {
			t.Errorf("%q: %s %v, want %s", line, r.LocalPart(), err, want)
		}
	}
	// Replies off for every line that does not say otherwise.
	_, r, _ := readLine(linePolicy, "0701234567 *", lineOptions{Lang: "sv", NoReplies: true})
	if r.Reply.Allowed() {
		t.Error("replies off: the recipient may answer")
	}
	for line, fault := range map[string]string{
		"0701234567 199908072392":            "login=199908072392 has a wrong check digit (expected 1)",
		"0701234567":                         "no login=",
		"0812345678 199908072391":            "is not a mobile number",
		"0701234567&login=*&@elsewhere.test": "relay not permitted",
		"0701234567&logni=199908072391&":     "unknown key",
		"0701234567&login=*&exp=banana&":     "exp=banana is not a lifetime",
	} {
		if _, _, err := readLine(linePolicy, line, lineOptions{}); err == nil || !strings.Contains(refusalReason(err), fault) {
			t.Errorf("%q: %v, want a refusal with %q", line, err, fault)
		}
	}
	rs, faults := readRecipients(linePolicy, "0701234567 *\r\n\r\n+46701234567&login=*&\nnonsense 1\n", lineOptions{})
	if len(rs) != 1 || len(faults) != 1 || faults[0].Line != 4 || faults[0].Written != "nonsense 1" {
		t.Errorf("readRecipients: %+v %+v", rs, faults)
	}
}

// FuzzRecipientLines drives the send form's recipients field, outside
// input: it never panics, every non-empty line is a recipient or a fault
// (the same person twice counting once), every recipient is one the
// addressing rules take from its own address, and a fault names its line.
func FuzzRecipientLines(f *testing.F) {
	for _, s := range []string{
		"0701234567 199908072391",
		"070-1234567 199908072391, 19861123-9883\nanna.svensson@example.com *",
		"0701234567&login=199908072391&lang=en&exp=7d&reply=no&",
		"anna=example.com&login=*&@secure.test\n\n0701234567?login=990807*",
		"\"anna.s@example.com&login=*&\"@secure.test",
		"@\n&\n?\n=\n *",
		"0701234567 199908072391\r\n0701234567&login=199908072391&",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, field string, noReplies bool) {
		rs, faults := readRecipients(linePolicy, field, lineOptions{Lang: "sv", NoReplies: noReplies})
		lines := 0
		for _, l := range strings.Split(field, "\n") {
			if strings.TrimSpace(l) != "" {
				lines++
			}
		}
		if len(rs)+len(faults) > lines || (lines > 0 && len(rs) == 0 && len(faults) == 0) {
			t.Fatalf("%d lines gave %d recipients and %d faults", lines, len(rs), len(faults))
		}
		for _, r := range rs {
			again, err := linePolicy.Parse(r.Address)
			if err != nil || again.LocalPart() != r.LocalPart() {
				t.Fatalf("recipient %q reads %v %v from its own address", r.LocalPart(), again, err)
			}
			if r.Channel != addressing.SMS && r.Channel != addressing.Email || r.To == "" {
				t.Fatalf("recipient %+v", r)
			}
			if r.Lang != "sv" && r.Lang != "en" {
				t.Fatalf("recipient %q has language %q", r.LocalPart(), r.Lang)
			}
			if noReplies && r.Reply.Allowed() && !strings.Contains(strings.ToLower(r.Address), "reply=") {
				t.Fatalf("replies off, yet %q may answer", r.Address)
			}
		}
		for _, fl := range faults {
			if fl.Line < 1 || fl.Reason == "" || strings.TrimSpace(fl.Written) != fl.Written || fl.Written == "" {
				t.Fatalf("fault %+v", fl)
			}
			if utf8.ValidString(field) && !utf8.ValidString(fl.Written) {
				t.Fatalf("fault %+v is not UTF-8", fl)
			}
		}
	})
}
