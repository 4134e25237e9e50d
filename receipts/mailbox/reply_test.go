package mailbox

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/intake"
	"sigill/receipts"
	"sigill/vault"
)

var replyOrg = receipts.Org{Name: "Region Exempel", Hostname: "sigill.example.se", From: "noreply@secure.example.se", Lang: "sv"}

// A reply is recorded with its sealed mail, filed in the owner's mailbox
// (also without receipts.mail_to_sender), mailed to the owner and the
// functional mailbox, served as the very mail that was built, listed for
// the person who wrote it (and no one else), and at the message's expiry
// it leaves the mailbox while its event stays.
func TestReply(t *testing.T) {
	c := newClock()
	s, v, _ := openTest(t, Options{Org: replyOrg, ReplyCopy: "kansli@kommun.example.se", Now: c.Now}, func(o *vault.Options) { o.Now = c.Now })
	in := incoming(smallRaw(), smsRecipient("+46701234567", pn1))
	in.Recipients[0].Exp = addressing.Lifetime(2 * time.Hour)
	a := accept(t, v, in)
	_, l, err := v.Lookup(a.Tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	files := []receipts.File{{Name: "remiss.pdf", ContentType: "application/pdf", Body: []byte("%PDF remiss")}}
	ev, err := s.PostReply(context.Background(), l, Replier{PersonalNumber: pn1, Name: "Anna Andersson", IP: "192.0.2.7"}, "Tack, jag kommer.", files)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq == 0 || ev.Kind != vault.EventReplied || ev.PersonalNumber != pn1 || ev.IP != "192.0.2.7" {
		t.Fatalf("event %+v", ev)
	}
	mb := mustMailbox(t, s, "staff@kommun.example.se")
	if len(mb.Entries) != 1 || mb.Entries[0].Event != ev.Seq {
		t.Fatalf("mailbox %+v; want the reply filed", mb)
	}
	raw, at, err := s.Message(replyOrg, ev.Seq)
	if err != nil || !at.Equal(ev.At) {
		t.Fatalf("Message = %v, %v", at, err)
	}
	for _, want := range []string{"In-Reply-To: <abc.123@kommun.example.se>", "Anna Andersson 19990807-****", "Tack, jag kommer.", "Cc: <kansli@kommun.example.se>", "remiss.pdf"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("the reply's mail lacks %q:\n%s", want, raw)
		}
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, j := range jobs {
		if j.Kind == JobReceipt && j.Event == ev.Seq {
			to = append(to, j.To)
		}
	}
	slices.Sort(to)
	if !slices.Equal(to, []string{"kansli@kommun.example.se", "staff@kommun.example.se"}) {
		t.Errorf("mail jobs of the reply to %v; want the owner and the functional mailbox", to)
	}
	mine, err := s.Replies(l, pn1)
	if err != nil || len(mine) != 1 || !bytes.Equal(mine[0].Raw, raw) {
		t.Fatalf("Replies of the writer: %d, %v", len(mine), err)
	}
	if others, err := s.Replies(l, pn2); err != nil || len(others) != 0 {
		t.Errorf("Replies of another person: %d, %v", len(others), err)
	}
	// The sender's doors get what the person wrote and sent, and who.
	answers, err := s.Answers(l.ID, "")
	if err != nil || len(answers) != 1 || answers[0].Event.Seq != ev.Seq || answers[0].Text != "Tack, jag kommer." ||
		len(answers[0].Files) != 1 || answers[0].Files[0].Name != "remiss.pdf" || string(answers[0].Files[0].Body) != "%PDF remiss" {
		t.Fatalf("Answers = %+v, %v", answers, err)
	}
	if theirs, err := s.Answers(l.ID, pn1); err != nil || len(theirs) != 1 {
		t.Errorf("Answers of the writer: %+v, %v", theirs, err)
	}
	if others, err := s.Answers(l.ID, pn2); err != nil || len(others) != 0 {
		t.Errorf("Answers of another person: %+v, %v", others, err)
	}

	// The expiry: the content goes, so does the entry; the event stays.
	c.Advance(2 * time.Hour)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	mb = mustMailbox(t, s, "staff@kommun.example.se")
	for _, e := range mb.Entries {
		if e.Event == ev.Seq {
			t.Errorf("the reply is still in the mailbox after its message expired: %+v", mb.Entries)
		}
	}
	if len(mb.Entries) != 1 {
		t.Errorf("mailbox after the expiry %+v; want the expired receipt alone", mb.Entries)
	}
	if _, _, err := s.Message(replyOrg, ev.Seq); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the reply's mail after the expiry: %v; want ErrNotFound (its job dropped)", err)
	}
	if mine, err := s.Replies(l, pn1); err != nil || len(mine) != 0 {
		t.Errorf("Replies after the expiry: %d, %v", len(mine), err)
	}
	if answers, err := s.Answers(l.ID, ""); err != nil || len(answers) != 0 {
		t.Errorf("Answers after the expiry: %+v, %v", answers, err)
	}
	if e, err := v.EventBySeq(ev.Seq); err != nil || e.Kind != vault.EventReplied {
		t.Errorf("the replied event after the expiry: %+v, %v", e, err)
	}
}

// reply=no turns replies off; an empty reply and one over the size limit
// are refused, and nothing is recorded.
func TestReplyRefusals(t *testing.T) {
	s, v, _ := openTest(t, Options{Org: replyOrg, Limits: intake.Rules{MaxBytes: 4096}}, nil)
	off := smsRecipient("+46701234567", pn1)
	off.Reply = addressing.RepliesNo
	a := accept(t, v, incoming(smallRaw(), off, smsRecipient("+46701234568", pn2)))
	who := Replier{PersonalNumber: pn1, Name: "Anna Andersson"}
	ctx := context.Background()
	_, l0, _ := v.Lookup(a.Tokens[0])
	if _, err := s.PostReply(ctx, l0, who, "hej", nil); !errors.Is(err, ErrRepliesOff) {
		t.Errorf("reply=no: %v", err)
	}
	_, l1, _ := v.Lookup(a.Tokens[1])
	if _, err := s.PostReply(ctx, l1, who, " \r\n ", nil); !errors.Is(err, ErrEmptyReply) {
		t.Errorf("an empty reply: %v", err)
	}
	var large *intake.TooLargeError
	_, err := s.PostReply(ctx, l1, who, strings.Repeat("lång text ", 500), nil)
	if !errors.As(err, &large) || large.Max != 4096 {
		t.Errorf("a reply over the limit: %v", err)
	}
	evs, _ := v.Events(a.ID)
	for _, ev := range evs {
		if ev.Kind == vault.EventReplied {
			t.Errorf("a refused reply was recorded: %+v", ev)
		}
	}
}
