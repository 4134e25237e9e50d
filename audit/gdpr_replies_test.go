package audit_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"sigill/audit"
	"sigill/internal/testenv"
	"sigill/receipts"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

// A GDPR export holds the person's own answers from the reader's page
// (text and files), not another person's, while the message has not
// expired; after, none (their content went with the message's).
func TestGDPRExportReplies(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	trail := audit.New(0)
	boxes := mailbox.New(mailbox.Options{Org: receipts.Org{Name: "Region Test", Hostname: "localhost", Lang: "sv"}, Now: clock.Now})
	v, err := vault.Open(vault.Options{Path: filepath.Join(t.TempDir(), "sigill.db"), Now: clock.Now, Hooks: []vault.Hook{trail.Hook(), boxes.Hook()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if err := trail.Attach(v); err != nil {
		t.Fatal(err)
	}
	boxes.Attach(v)
	trail.AttachReplies(boxes)

	id := send(t, v, "Kallelse", to("0701234567&login=199908072391&login=198611239883&@secure.test", anna, bertil))
	var l vault.Letter
	v.View(nil, func(tx vault.Tx) error { l, err = tx.Letter(id, 0); return err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := boxes.PostReply(ctx, l, mailbox.Replier{PersonalNumber: anna, Name: "Anna"}, "Jag kommer.", []receipts.File{{Name: "intyg.pdf", ContentType: "application/pdf", Body: []byte("%PDF intyg")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := boxes.PostReply(ctx, l, mailbox.Replier{PersonalNumber: bertil, Name: "Bertil"}, "Inte jag.", nil); err != nil {
		t.Fatal(err)
	}
	exp, err := trail.ExportPerson(ctx, anna, "cli:root")
	if err != nil || len(exp.Messages) != 1 {
		t.Fatalf("export: %+v, %v", exp, err)
	}
	r := exp.Messages[0].Replies
	if len(r) != 1 || r[0].Text != "Jag kommer." || r[0].Recipient != 0 || len(r[0].Files) != 1 || r[0].Files[0].Name != "intyg.pdf" || r[0].Files[0].Size != 10 || string(r[0].Files[0].Content) != "%PDF intyg" {
		t.Errorf("the person's replies in the export: %+v", r)
	}

	clock.Advance(vault.DefaultRetention)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	exp, err = trail.ExportPerson(ctx, anna, "cli:root")
	if err != nil || len(exp.Messages) != 1 || exp.Messages[0].Replies == nil || len(exp.Messages[0].Replies) != 0 {
		t.Errorf("after the expiry: %+v, %v", exp, err)
	}
}
