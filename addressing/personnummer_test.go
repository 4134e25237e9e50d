package addressing

import (
	"strings"
	"testing"
	"time"
)

// Published test numbers used below, and nothing else that could be a
// person's number:
//
//   - Skatteverket's test personal numbers 199908072391, 198611239883 and
//     200211242383, and 190312049802 from Skatteverket's 1903–04 test series
//     (aged over 100, for the '+' form).
//   - Skatteverket's test samordningsnummer (the Testsamordningsnummer
//     files on skatteverket.entryscape.net): 202601612381 (born 2026-01-01),
//     202601622380, 202601912393 (day 91 = the 31st), 191401682396,
//     191500722390 (month 00: birth month not known) and 191711602399
//     (day 60: birth day not known).
//   - 701063-2391, the samordningsnummer of Skatteverket's own worked example
//     (a man born 1970-10-03, individual number 239) in SKV M 2010:3.
//
// Everything else is one of these with a digit or separator changed so that
// it is invalid (a wrong check digit, a date that does not exist), or one of
// these read with a Now chosen so that the century rule lands on the
// published century.

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func TestParsePersonalNumberForms(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"199908072391", "199908072391"},
		{"19990807-2391", "199908072391"},
		{"9908072391", "199908072391"},
		{"990807-2391", "199908072391"},
		{"198611239883", "198611239883"},
		{"19861123-9883", "198611239883"},
		{"8611239883", "198611239883"},
		{"861123-9883", "198611239883"},
		{"200211242383", "200211242383"},
		{"20021124-2383", "200211242383"},
		{"0211242383", "200211242383"},
		{"021124-2383", "200211242383"},
		{"190312049802", "190312049802"},
		{"19031204-9802", "190312049802"},
		{"031204+9802", "190312049802"}, // '+': aged 100 or more
		// samordningsnummer
		{"202601612381", "202601612381"},
		{"20260161-2381", "202601612381"},
		{"260161-2381", "202601612381"},
		{"202601622380", "202601622380"},
		{"202601912393", "202601912393"},
		{"191401682396", "191401682396"},
		{"140168+2396", "191401682396"},
		{"701063-2391", "197010632391"},
		{"7010632391", "197010632391"},
		// samordningsnummer, month 00 or day 60: not known
		{"191500722390", "191500722390"},
		{"150072+2390", "191500722390"},
		{"191711602399", "191711602399"},
		{"171160+2399", "191711602399"},
	}
	for _, tt := range tests {
		got, err := ParsePersonalNumber(tt.in, today)
		if err != nil || got != tt.want {
			t.Errorf("ParsePersonalNumber(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParsePersonalNumberCentury(t *testing.T) {
	tests := []struct {
		in   string
		now  time.Time
		want string
	}{
		// The most recent century that does not put the birth date in the
		// future.
		{"9908072391", day(2026, 6, 15), "199908072391"},
		{"9908072391", day(2000, 1, 1), "199908072391"},
		{"9908072391", day(1999, 8, 7), "199908072391"}, // born today
		{"9908072391", day(2099, 8, 6), "199908072391"}, // 2099-08-07 is tomorrow
		{"0211242383", day(2026, 6, 15), "200211242383"},
		{"0211242383", day(2002, 11, 24), "200211242383"}, // born today
		{"021124-2383", day(2102, 11, 23), "200211242383"},
		{"031204-9802", day(1990, 1, 1), "190312049802"},
		{"031204-9802", day(2003, 12, 3), "190312049802"},
		// '+': one century earlier.
		{"990807+2391", day(2099, 8, 7), "199908072391"},
		{"021124+2383", day(2102, 11, 24), "200211242383"},
		{"031204+9802", day(2026, 6, 15), "190312049802"},
		{"031204+9802", day(2103, 12, 3), "190312049802"},
		// samordningsnummer: the birth day (day - 60) counts, and a part not
		// known never counts as in the future.
		{"260161-2381", day(2026, 1, 1), "202601612381"},
		{"260191-2393", day(2026, 1, 31), "202601912393"},
		{"150072-2390", day(1915, 1, 1), "191500722390"},
		{"171160-2399", day(1917, 11, 1), "191711602399"},
		{"7010632391", day(2069, 10, 2), "197010632391"},
	}
	for _, tt := range tests {
		got, err := ParsePersonalNumber(tt.in, tt.now)
		if err != nil || got != tt.want {
			t.Errorf("ParsePersonalNumber(%q, %s) = %q, %v; want %q", tt.in, tt.now.Format(time.DateOnly), got, err, tt.want)
		}
	}
}

func TestParsePersonalNumberFaults(t *testing.T) {
	tests := []struct {
		in   string
		now  time.Time
		says []string
	}{
		// Wrong check digits, naming the right one.
		{"199908072392", today, []string{"199908072392 has a wrong check digit (expected 1)", "check the whole number"}},
		{"19990807-2390", today, []string{"19990807-2390 has a wrong check digit (expected 1)"}},
		{"9908072399", today, []string{"has a wrong check digit (expected 1)"}},
		{"990807-2392", today, []string{"has a wrong check digit (expected 1)"}},
		{"198611239884", today, []string{"has a wrong check digit (expected 3)"}},
		{"200211242384", today, []string{"has a wrong check digit (expected 3)"}},
		{"031204+9803", today, []string{"has a wrong check digit (expected 2)"}},
		{"202601612382", today, []string{"has a wrong check digit (expected 1)"}},
		{"199908172391", today, []string{"has a wrong check digit"}}, // a mistyped date digit
		// Dates that do not exist.
		{"19991307-2391", today, []string{"1999-13-07 is not a date (there is no month 13)"}},
		{"19990007-2391", today, []string{"1999-00-07 is not a date", "month 00", "samordningsnummer"}},
		{"19990800-2391", today, []string{"1999-08-00 is not a date (there is no day 00)"}},
		{"19990832-2391", today, []string{"1999-08-32 is not a date", "no day 32"}},
		{"19990931-2391", today, []string{"1999-09-31 is not a date (September has 30 days)"}},
		{"19990229-2391", today, []string{"1999-02-29 is not a date (1999 is not a leap year)"}},
		{"19000229-2391", today, []string{"1900-02-29 is not a date (1900 is not a leap year)"}},
		{"990229-2391", today, []string{"1999-02-29 is not a date (1999 is not a leap year)"}},
		{"19990845-2391", today, []string{"1999-08-45 is not a date", "61-91 in a samordningsnummer"}},
		{"19990892-2391", today, []string{"1999-08-92 is not a date", "birth day + 60", "92 - 60 = 32"}},
		{"19990991-2391", today, []string{"1999-09-91 is not a date", "birth day is 31", "September has 30 days"}},
		{"19990289-2391", today, []string{"1999-02-89 is not a date", "1999 is not a leap year"}},
		{"19991362-2391", today, []string{"1999-13-62 is not a date (there is no month 13)"}},
		// Future and far past.
		{"202601612381", day(2025, 12, 31), []string{"2026-01-61 is a birth date in the future"}},
		{"199908072391", day(1999, 8, 6), []string{"1999-08-07 is a birth date in the future"}},
		{"179908072391", today, []string{"1799-08-07 is not a birth date", "18, 19 or 20"}},
		// Shape.
		{"", today, []string{"empty"}},
		{"19990807239", today, []string{"19990807239 has 11 digits, not 12 or 10", "YYYYMMDDNNNN", "YYMMDD-NNNN"}},
		{"1999080723911", today, []string{"has 13 digits"}},
		{"990807-239", today, []string{"has 9 digits"}},
		{"19990807-239A", today, []string{"'A' is not a digit"}},
		{"l99908072391", today, []string{"'l' is not a digit"}},
		{"199908O72391", today, []string{"'O' is not a digit"}},
		{"19990807–2391", today, []string{"'–' is not a digit"}}, // an en dash
		{"19990807 2391", today, []string{"' '", "its own login="}},
		{"1999080-72391", today, []string{"the '-' in the wrong place"}},
		{"99080-72391", today, []string{"the '-' in the wrong place"}},
		{"990807--2391", today, []string{"more than one"}},
		{"19990807+2391", today, []string{"'+' belongs only to the 10-digit form"}},
		{"\xff99908072391", today, []string{"not text"}},
	}
	for _, tt := range tests {
		got, err := ParsePersonalNumber(tt.in, tt.now)
		if err == nil {
			t.Errorf("ParsePersonalNumber(%q) = %q; want an error", tt.in, got)
			continue
		}
		for _, s := range tt.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("ParsePersonalNumber(%q): %q does not say %q", tt.in, err, s)
			}
		}
		if got != "" {
			t.Errorf("ParsePersonalNumber(%q) = %q with its error", tt.in, got)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"199908072391":        "19990807-****",
		"19990807-2391":       "19990807-****",
		"9908072391":          "990807-****",
		"990807-2391":         "990807-****",
		"031204+9802":         "031204+****",
		"":                    "",
		"19990807239":         "***********",
		"login=19990807 2391": "login=******** ****",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindPersonalNumber(t *testing.T) {
	found := map[string]string{
		"Ang. 19990807-2391 provsvar":          "19990807-****",
		"199908072391":                         "19990807-****",
		"Svar till 198611239883.":              "19861123-****",
		"Re: 990807-2391":                      "990807-****",
		"Re:9908072391":                        "990807-****",
		"Re: 031204+9802 (brev)":               "031204+****",
		"ang 0211242383":                       "021124-****",   // a Luhn-valid 10-digit run starting with 0
		"Ang. 19990807-2392 typo":              "19990807-****", // the check digit is not required
		"990807-2390":                          "990807-****",
		"Samordn. 260161-2381":                 "260161-****",
		"191500722390":                         "19150072-****", // month 00
		"Prov 191711602399!":                   "19171160-****", // day 60
		"x-990807-2391-x":                      "990807-****",
		"Ang. 19990807+2391":                   "19990807-****", // not a form Parse takes, but a leak
		"Två: 19861123-9883 och 19990807-2391": "19861123-****",
		"Order 4711, ang. 19990807-2391":       "19990807-****",
		"svar 19990807 2391":                   "19990807-****", // a space, the check digit right
		"svar 19990807- 2391":                  "19990807-****", // folded after the hyphen
		"svar 990807 2391":                     "990807-****",
		"svar 861123  9883":                    "861123-****",
		// Written forms a person reads as the same number.
		"１９９９０８０７２３９１":         "19990807-****", // fullwidth
		"Svar １９９９０８０７－２３９１":   "19990807-****", // fullwidth hyphen
		"Svar ١٩٩٩٠٨٠٧٢٣٩١":    "19990807-****", // Arabic-Indic digits
		"Svar १९९९०८०७-२३९१":   "19990807-****", // Devanagari digits
		"Svar 19990807–2391":   "19990807-****", // en dash
		"Svar 19990807 2391":   "19990807-****", // no-break space
		"Svar 1999​0807-2391":  "19990807-****", // zero-width space
		"Svar 1999 08 07 2391": "19990807-****",
		"Svar 1999-08-07-2391": "19990807-****",
		"Svar 1999.08.07/2391": "19990807-****",
		"Svar 99 08 07 - 2391": "990807-****",
		"Svar 86.11.23 9883":   "861123-****",
		"Svar ８６ １１ ２３ ９８８３":   "861123-****",
		// Control characters part groups like a space (the SMS shows them
		// as one).
		"Svar 19990807\t2391":           "19990807-****",
		"1999\t08\t07\t2391":            "19990807-****",
		"19990807\x0b2391":              "19990807-****",
		"Svar 19990807\f2391":           "19990807-****",
		"Svar 1999\x1f08\x1f07\x1f2391": "19990807-****",
		"Svar 19990807\u00852391":       "19990807-****", // NEL, a C1 control
		"Svar 990807-\t2391":            "990807-****",
		// Marks and fillers that show nothing (or only on the digit before)
		// are not there.
		"Svar " + strings.Join(strings.Split("199908072391", ""), "\ufe0f"): "19990807-****",
		"Svar 1999\u034f0807\u034f2391":                                     "19990807-****",
		"Svar " + strings.Join(strings.Split("9908072391", ""), "\u20e3"):   "990807-****", // keycaps
		"Svar 1\u03019990807-2391":                                          "19990807-****",
		"Svar 1999\u31640807\u31642391":                                     "19990807-****", // Hangul filler
		"Svar 1999\uffa00807\uffa02391":                                     "19990807-****", // halfwidth Hangul filler
	}
	for text, want := range found {
		got, ok := FindPersonalNumber(text)
		if !ok || got != want {
			t.Errorf("FindPersonalNumber(%q) = %q, %v; want %q", text, got, ok, want)
		}
		if strings.Contains(got, "2391") || strings.Contains(got, "9883") {
			t.Errorf("FindPersonalNumber(%q) = %q leaks the last digits", text, got)
		}
	}
	for _, text := range []string{
		"",
		"Order 4711",
		"Tel 0701234567",
		"Tel 070-1234567",
		"Tel +46701234567",
		"Kort 5555555555554444", // a 16-digit card-ish run
		"Ref 1999080723911234",  // a personal number inside a longer run
		"Ref 19990807239",       // 11 digits
		"Ref 919990807-2391",    // 9 digits before the '-'
		"Ref 19990807-23911",    // 5 digits after it
		"Möte 2026-11-28 kl 10",
		"Ang. 19991307-2391", // no month 13
		"Ang. 990229-2391",   // 29 February, neither 1999 nor 2099 is a leap year
		"Ang. 17990807-2391", // a 12-digit year begins with 18, 19 or 20
		"Ärende 123456-7890", // month 34
		"Möte 20241128 1030", // a date and a time: spaced, and the check digit is wrong
		// Dates, times and phone numbers written in groups: parted elsewhere
		// than a personal number's parts, or without its check digit.
		"Tid 2024-05-12 kl 10",
		"Tid 2024-05-12 10:30",
		"Tid 2024-05-12 10.30",
		"Tid ２０２４－０５－１２ kl １０",
		"Tid 2024-05-12 1030", // the parts of a number, but the check digit is wrong
		"Ring 070-123 45 67",
		"Ring 08-123 456 78",
		"Ring 0701 23 45 67",
		"Svar 1999 08 07 2392", // the check digit is wrong
		"Svar 1999 13 07 2391", // no month 13
		"Ref 12-34-56-78-90",
		"Svar 1999 080 72391", // parted inside the date
		"Tid 2024-05-12\t10:30",
		"Tid 2024-05-12\x0b1030",
		"Ring 070\t123\t45\t67",
		"Ring 070\ufe0f-123 45 67",
	} {
		if got, ok := FindPersonalNumber(text); ok {
			t.Errorf("FindPersonalNumber(%q) = %q; want nothing found", text, got)
		}
	}
	// 29 February of year 00 exists in 2000. (Individual number 000 is
	// never issued, so this is no one's number.)
	if _, ok := FindPersonalNumber("000229-0000"); !ok {
		t.Error("000229-0000 not found")
	}
}
