package addressing

import (
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
