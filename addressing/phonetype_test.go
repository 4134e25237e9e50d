package addressing

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// parsePhone asks a number's type only, not also whether it is valid: the
// library's type is UNKNOWN exactly when the number is not valid. Checked
// here for the kinds of numbers senders write, so that a library update that
// parts the two fails here.
func TestNumberTypeUnknownExactlyWhenInvalid(t *testing.T) {
	for _, c := range []struct{ number, region string }{
		{"0701234567", "SE"}, {"+46701234567", "SE"}, {"0812345678", "SE"}, {"+4681234567", "SE"},
		{"070123456", "SE"}, {"07012345678", "SE"}, {"0900123456", "SE"}, {"+46123", "SE"},
		{"+4791234567", "SE"}, {"+4521234567", "SE"}, {"+358401234567", "SE"}, {"+4915112345678", "SE"},
		{"+12025550123", "SE"}, {"+80012345678", "SE"}, {"+88213912345", "SE"}, {"+999123456", "SE"},
		{"+3531234", "SE"}, {"0046701234567", "SE"}, {"+447700900123", "SE"}, {"+4420 7946 0018", "SE"},
		{"123", "SE"}, {"+46 70 123 45 67", "SE"}, {"+46701234567", ""}, {"+37060012345", "SE"},
	} {
		n, err := phonenumbers.Parse(c.number, c.region)
		if err != nil {
			continue
		}
		valid := phonenumbers.IsValidNumber(n)
		known := phonenumbers.GetNumberType(n) != phonenumbers.UNKNOWN
		if valid != known {
			t.Errorf("%s: valid %t, but its type is known %t", c.number, valid, known)
		}
	}
}

// BenchmarkParseSMSRecipient: one RCPT's address, as bench/ingest.sh
// writes it (an SMS number and one allowed personal number).
func BenchmarkParseSMSRecipient(b *testing.B) {
	p := Policy{Domains: []string{"secure.test"}, Region: "SE"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse("0701234567&login=199908072391&@secure.test"); err != nil {
			b.Fatal(err)
		}
	}
}

// nationalMobile answers what the long way does, for every region it
// reads, on numbers of every length around a mobile number's.
func TestNationalMobileIsParse(t *testing.T) {
	regions := trunkZeroRegions()
	if _, ok := regions["SE"]; !ok {
		t.Fatalf("SE is not among the regions nationalMobile reads (%d regions): the RCPT path lost its short way", len(regions))
	}
	if _, ok := nationalMobile("0701234567", "SE"); !ok {
		t.Fatal("0701234567 in SE did not take the short way")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for region := range regions {
		// The region's own example mobile number and its neighbours:
		// random digits seldom hit another region's mobile ranges.
		if n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); n != nil {
			nsn := phonenumbers.GetNationalSignificantNumber(n)
			for i := range 50 {
				digits := "0" + nsn
				if i > 0 {
					digits = digits[:len(digits)-3] + fmt.Sprintf("%03d", rng.IntN(1000))
				}
				switch {
				case sameAsParse(t, digits, region):
					taken++
				case i == 0:
					t.Errorf("%s: its example mobile number 0%s did not take the short way", region, nsn)
				}
			}
		}
		for range 400 {
			digits := "0" + strconv.Itoa(1+rng.IntN(9))
			for n := rng.IntN(12); n > 0; n-- {
				digits += strconv.Itoa(rng.IntN(10))
			}
			if sameAsParse(t, digits, region) {
				taken++
			}
		}
	}
	// Swedish mobile series, where the short way is taken most.
	for range 2000 {
		digits := fmt.Sprintf("07%d%07d", rng.IntN(10), rng.IntN(10_000_000))
		if sameAsParse(t, digits, "SE") {
			taken++
		}
	}
	if taken < 3000 {
		t.Errorf("the short way answered %d numbers: too few to have compared it", taken)
	}
}

// sameAsParse fails t when nationalMobile answers digits otherwise than
// the long way, and reports whether it answered.
func sameAsParse(t *testing.T, digits, region string) bool {
	t.Helper()
	short, ok := nationalMobile(digits, region)
	if !ok {
		return false
	}
	long, fault := parsePhoneDigits(digits, digits, false, region)
	if short != long || fault != "" {
		t.Errorf("%s in %s: the short way says %s, the long way %q (%s)", digits, region, short, long, fault)
	}
	return true
}

// FuzzNationalMobile: any digits, in any region nationalMobile reads.
func FuzzNationalMobile(f *testing.F) {
	regions := slices.Sorted(maps.Keys(trunkZeroRegions()))
	se := uint8(slices.Index(regions, "SE"))
	for _, s := range []string{"0701234567", "0731234567", "0812345678", "07012345678", "0412345678", "07911123456", "0 70-123"} {
		f.Add(s, se)
		f.Add(s, uint8(0))
	}
	for i, region := range regions {
		if n := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); n != nil {
			f.Add("0"+phonenumbers.GetNationalSignificantNumber(n), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, digits string, region uint8) {
		sameAsParse(t, digits, regions[int(region)%len(regions)])
	})
}
