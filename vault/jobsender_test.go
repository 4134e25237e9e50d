package vault

import (
	"sigill/vault/kv"

	"testing"
	"time"
)

// A notify job carries its message's vouched sender (the account, else the
// relay's envelope sender), so the notifier reads no message record for it;
// a job queued before jobs carried it says it has none.
func TestNotifyJobCarriesVouchedSender(t *testing.T) {
	v, _ := openTest(t, nil)
	submitted := incoming(smallRaw(), smsRecipient("+46701234567", pn1))
	submitted.Sender, submitted.Account = "anna@kommun.example.se", "anna@kommun.example.se"
	relayed := incoming(smallRaw(), smsRecipient("+46701234568", pn1))
	relayed.Sender, relayed.Account = "system@labb.example.se", ""
	nullSender := incoming(smallRaw(), smsRecipient("+46701234569", pn1))
	nullSender.Sender, nullSender.Account = "", ""
	ids := map[string]string{}
	for _, in := range []Incoming{submitted, relayed, nullSender} {
		ids[accept(t, v, in).ID] = VouchedSender(in.Account, in.Sender)
	}
	err := v.commit.update(t.Context(), func(tx kv.Tx) error {
		_, err := putJob(tx, jobRecord{MessageID: "old", Kind: "receipt", To: "x@example.se", Due: time.Now(), Created: time.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 4 {
		t.Fatalf("%d jobs; want 4", len(jobs))
	}
	for _, j := range jobs {
		if j.MessageID == "old" {
			if j.HasVouched || j.Vouched != "" {
				t.Errorf("a job queued without a vouched sender has %q (%t)", j.Vouched, j.HasVouched)
			}
			continue
		}
		if want := ids[j.MessageID]; !j.HasVouched || j.Vouched != want {
			t.Errorf("job of %s carries %q (%t); want %q", j.MessageID, j.Vouched, j.HasVouched, want)
		}
	}
}
