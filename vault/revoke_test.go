package vault

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/vault/vaulttest"
)

func revoke(t *testing.T, v *Vault, id string, recipient int, reason string) Revocation {
	t.Helper()
	r, err := v.Revoke(context.Background(), id, recipient, reason, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// openedWith is what of message id a copy opened with token: its message
// key or content.
func openedWith(r vaulttest.Report, id, token string) []vaulttest.Finding {
	var out []vaulttest.Finding
	for _, f := range opened(r, id) {
		if f.Token == token {
			out = append(out, f)
		}
	}
	return out
}

func mustBeWithdrawn(t *testing.T, v *Vault, token, what string) {
	t.Helper()
	if st, _, err := v.Lookup(token); st != LinkRevoked || err != nil {
		t.Errorf("%s: Lookup = %v, %v, want revoked", what, st, err)
	}
	if l, _, err := v.Decrypt(token); !errors.Is(err, ErrRevoked) || l.ID == "" {
		t.Errorf("%s: Decrypt = %v, want ErrRevoked with the letter", what, err)
	}
}

// TestRevokeRecipient: one recipient's copy withdrawn is refused at once,
// and no copy of the files made afterwards — the vault file and backups
// from before and after, with the key file and the key store as they are
// then — opens it with its token, though the recipient's wrapped key is
// still in them; the other recipient and the hour's other message still
// open, live and from the copy.
func TestRevokeRecipient(t *testing.T) {
	v, o, c, escrow := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Dras tillbaka "+randomHex(8), nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	other := accept(t, v, incoming(mime("Samma timme "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))
	tokens := append(append([]string{}, a.Tokens...), other.Tokens...)
	old := backupBytes(t, v)
	if before := scanNow(t, v, o, tokens, escrow); len(openedWith(before, a.ID, a.Tokens[0])) == 0 {
		t.Fatalf("control: before the withdrawal the token does not open: %v", before.Of(a.ID))
	}

	c.Advance(time.Minute)
	r := revoke(t, v, a.ID, 0, "fel mottagare")
	if !slices.Equal(r.Revoked, []int{0}) || len(r.Already) != 0 || r.Whole || !r.Final || r.Jobs != 1 {
		t.Fatalf("Revoke = %+v", r)
	}
	mustBeWithdrawn(t, v, a.Tokens[0], "the withdrawn recipient")
	mustOpen(t, v, a.Tokens[1], "the other recipient")
	mustOpen(t, v, other.Tokens[0], "the other message of the hour")
	evs, err := v.Events(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if countKind(evs, EventRevoked) != 1 || last.Kind != EventRevoked || last.Recipient != 0 || last.By != "admin" || last.Detail != "fel mottagare" || !last.At.Equal(c.Now()) {
		t.Errorf("events: %+v", evs)
	}

	after := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup before": old, "backup after": backupBytes(t, v)}, tokens, escrow))
	logReport(t, after)
	if after.WrappedKeys < 3 {
		t.Fatalf("test fault: the copy holds %d wrapped keys", after.WrappedKeys)
	}
	for _, f := range openedWith(after, a.ID, a.Tokens[0]) {
		t.Errorf("the withdrawn copy opens from a copy made after: %s", f)
	}
	if len(openedWith(after, a.ID, a.Tokens[1])) == 0 || !after.Has(other.ID, "content") {
		t.Errorf("control: the other recipient or message does not open from the copy: %v / %v", after.Of(a.ID), after.Of(other.ID))
	}
	// Both still open after a restart: their seals moved to the new key.
	v = reopen(t, v, o)
	mustOpen(t, v, a.Tokens[1], "the other recipient after a restart")
	mustOpen(t, v, other.Tokens[0], "the other message after a restart")
	mustBeWithdrawn(t, v, a.Tokens[0], "the withdrawn recipient after a restart")
}

// TestRevokeMessage: withdrawn for every recipient, a message opens with
// no token and not with the escrow key either, from a copy made after;
// the hour's other message does.
func TestRevokeMessage(t *testing.T) {
	v, o, _, escrow := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Hela "+randomHex(8), nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	other := accept(t, v, incoming(mime("Samma timme "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))
	tokens := append(append([]string{}, a.Tokens...), other.Tokens...)
	old := backupBytes(t, v)

	r := revoke(t, v, a.ID, -1, "")
	if !slices.Equal(r.Revoked, []int{0, 1}) || !r.Whole || !r.Final || r.Jobs != 2 {
		t.Fatalf("Revoke = %+v", r)
	}
	for _, tok := range a.Tokens {
		mustBeWithdrawn(t, v, tok, "a recipient")
	}
	if _, err := v.EscrowMessage(a.ID); !errors.Is(err, ErrRevoked) {
		t.Errorf("escrow export of a withdrawn message: %v", err)
	}
	if _, err := v.EscrowMessage(other.ID); err != nil {
		t.Errorf("escrow export of the other message: %v", err)
	}
	after := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup before": old, "backup after": backupBytes(t, v)}, tokens, escrow))
	logReport(t, after)
	for _, f := range opened(after, a.ID) {
		t.Errorf("the withdrawn message opens from a copy made after: %s", f)
	}
	if !after.Has(other.ID, "content") || !after.Has(other.ID, "escrow message key") {
		t.Errorf("control: the other message does not open from the copy: %v", after.Of(other.ID))
	}
}

// TestRevokeTwice: a second withdrawal records nothing; withdrawing the
// last recipient left withdraws the message; the refusals say why.
func TestRevokeTwice(t *testing.T) {
	v, _, c, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Två gånger "+randomHex(8), nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	revoke(t, v, a.ID, 1, "")
	if r := revoke(t, v, a.ID, 1, "igen"); len(r.Revoked) != 0 || !slices.Equal(r.Already, []int{1}) || r.Whole {
		t.Errorf("again: %+v", r)
	}
	if r := revoke(t, v, a.ID, -1, ""); !slices.Equal(r.Revoked, []int{0}) || !slices.Equal(r.Already, []int{1}) || !r.Whole {
		t.Errorf("the rest: %+v", r)
	}
	if r := revoke(t, v, a.ID, -1, ""); len(r.Revoked) != 0 || len(r.Already) != 2 || !r.Whole {
		t.Errorf("all again: %+v", r)
	}
	evs, _ := v.Events(a.ID)
	if n := countKind(evs, EventRevoked); n != 2 {
		t.Errorf("%d revoked events, want 2: %+v", n, evs)
	}
	if _, err := v.SetExpiry(a.ID, c.Now().Add(time.Hour), "admin"); !errors.Is(err, ErrRevoked) {
		t.Errorf("SetExpiry of a withdrawn message: %v", err)
	}

	ctx := context.Background()
	if _, err := v.Revoke(ctx, "00000000000000000000", -1, "", "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown message: %v", err)
	}
	b := accept(t, v, incoming(mime("Kort "+randomHex(8), nil), withExp(smsRecipient("+46701234567", pn1), time.Hour)))
	if _, err := v.Revoke(ctx, b.ID, 1, "", "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown recipient: %v", err)
	}
	c.Advance(time.Hour)
	if _, err := v.Revoke(ctx, b.ID, -1, "", "admin"); !errors.Is(err, ErrExpired) {
		t.Errorf("expired message: %v", err)
	}
	for _, reason := range []string{"fel mottagare, avsett för 19990807-2391", strings.Repeat("x", MaxReason+1)} {
		if _, err := v.Revoke(ctx, b.ID, -1, reason, "admin"); !errors.Is(err, ErrBadReason) {
			t.Errorf("reason %.30q: %v", reason, err)
		}
	}
	// Withdrawn before it expired: asking again is still answered.
	if r, err := v.Revoke(ctx, a.ID, 0, "", "admin"); err != nil || !slices.Equal(r.Already, []int{0}) {
		t.Errorf("withdrawn, asked again: %+v, %v", r, err)
	}
}

// TestRevokeDropsPendingNotification: a withdrawn recipient's notification
// not yet claimed goes with its sealed token; one a worker holds stays for
// the worker to end; the other recipients' stay.
func TestRevokeDropsPendingNotification(t *testing.T) {
	c := newClock()
	v, _ := openTest(t, func(o *Options) { o.Now = c.Now })
	a := accept(t, v, incoming(mime("Avisering "+randomHex(8), nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2), smsRecipient("+46701234568", pn3)))
	claimed := mustClaim(t, v, c.Now(), 1)
	if len(claimed) != 1 || claimed[0].Recipient != 0 {
		t.Fatalf("claimed %+v", claimed)
	}
	if r, err := v.RevokeRecipients(context.Background(), a.ID, []int{0, 1}, "", "admin"); err != nil || r.Jobs != 1 {
		t.Fatalf("RevokeRecipients = %+v, %v", r, err)
	}
	jobs, err := v.PendingJobs()
	if err != nil {
		t.Fatal(err)
	}
	var left []int
	for _, j := range jobs {
		left = append(left, j.Recipient)
	}
	if !slices.Equal(left, []int{0, 2}) {
		t.Errorf("jobs left for recipients %v, want the claimed one (0) and the other's (2)", left)
	}
	if err := v.CompleteJob(claimed[0].ID, claimed[0].Lease, Outcome{}); err != nil {
		t.Errorf("the claim ends as its worker says: %v", err)
	}
}

// TestRevokeAfterExtend: a message whose expiry was extended (its secrets
// sealed again under a later hour's key) and then withdrawn for one
// recipient does not open with that token from a copy made after, not even
// with a backup of the vault file from before the extension, which holds
// the old seal under the old hour's key.
func TestRevokeAfterExtend(t *testing.T) {
	v, o, c, escrow := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Förlängd "+randomHex(8), nil), withExp(smsRecipient("+46701234567", pn1), time.Hour), emailRecipient("anna@example.org", pn2)))
	before := backupBytes(t, v)
	if _, err := v.SetExpiry(a.ID, c.Now().Add(5*time.Hour), "admin"); err != nil {
		t.Fatal(err)
	}
	revoke(t, v, a.ID, 0, "")
	mustOpen(t, v, a.Tokens[1], "the other recipient")
	after := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup before the extension": before, "backup after": backupBytes(t, v)}, a.Tokens, escrow))
	logReport(t, after)
	for _, f := range openedWith(after, a.ID, a.Tokens[0]) {
		t.Errorf("the withdrawn copy opens from a copy made after: %s", f)
	}
	if len(openedWith(after, a.ID, a.Tokens[1])) == 0 {
		t.Errorf("control: the other recipient does not open: %v", after.Of(a.ID))
	}
}

// TestRevokeKeepsReplies: a message withdrawn for every recipient keeps
// what lives until its expiry (a reply received before), through the
// replacement of its hour's key and a restart; its content opens with no
// token.
func TestRevokeKeepsReplies(t *testing.T) {
	v, o, _, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("Svar "+randomHex(8), nil), smsRecipient("+46701234567", pn1)))
	sealed, err := v.SealUntilExpiry(a.ID, "reply 1", []byte("Tack!"))
	if err != nil {
		t.Fatal(err)
	}
	if r := revoke(t, v, a.ID, -1, ""); !r.Whole || !r.Final {
		t.Fatalf("Revoke = %+v", r)
	}
	v = reopen(t, v, o)
	if plain, err := v.OpenUntilExpiry(a.ID, "reply 1", sealed); err != nil || string(plain) != "Tack!" {
		t.Errorf("the reply after the withdrawal: %q, %v", plain, err)
	}
	mustBeWithdrawn(t, v, a.Tokens[0], "the recipient")
}
