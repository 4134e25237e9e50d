package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"sigill/addressing"
	"sigill/vault/vaulttest"
)

func withExp(r Recipient, exp time.Duration) Recipient {
	r.Exp = addressing.Lifetime(exp)
	return r
}

// openExpiryTest opens a vault on a turned clock with an escrow key, and
// returns the escrow private key.
func openExpiryTest(t *testing.T) (*Vault, Options, clockT, openpgp.EntityList) {
	t.Helper()
	c := newClock()
	priv, pub := newEscrowEntity(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return c.Now().Add(-time.Hour) }})
	v, o := openTest(t, func(o *Options) { o.Now = c.Now; o.EscrowKey = pub })
	return v, o, c, openpgp.EntityList{priv}
}

type clockT = interface {
	Now() time.Time
	Advance(time.Duration)
}

func mustOpen(t *testing.T, v *Vault, token, what string) {
	t.Helper()
	if _, _, err := v.Decrypt(token); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustBeExpired(t *testing.T, v *Vault, token, what string) {
	t.Helper()
	l, _, err := v.Decrypt(token)
	if !errors.Is(err, ErrExpired) || !l.Expired {
		t.Fatalf("%s: Decrypt = %v (expired %v), want ErrExpired", what, err, l.Expired)
	}
}

// scanNow is what a thief who copies the data folder now holds: a backup of
// the vault file (free pages included) and the key file and key store as
// they are, with every token given.
func scanNow(t *testing.T, v *Vault, o Options, tokens []string, escrow openpgp.EntityList) vaulttest.Report {
	t.Helper()
	r := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup": backupBytes(t, v)}, tokens, escrow))
	logReport(t, r)
	return r
}

// TestOwnLifetime: a message sent with exp=1h expires an hour after it was
// received, on a clock turned by hand, and after its hour ends no copy of
// the files opens it with its tokens; a message on the default retention,
// received with it, is untouched.
func TestOwnLifetime(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup")
	v, o, c, escrow := openExpiryTest(t)
	received := c.Now()
	short := accept(t, v, incoming(mime("Kort "+randomHex(8), nil), withExp(smsRecipient("+46701234567", pn1), time.Hour), emailRecipient("anna@example.org", pn2)))
	long := accept(t, v, incoming(mime("Lång "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))

	_, l, err := v.Lookup(short.Tokens[1])
	if err != nil || !l.Expires.Equal(received.Add(time.Hour)) || l.Expired {
		t.Fatalf("Lookup = expires %v expired %v, %v; want %v", l.Expires, l.Expired, err, received.Add(time.Hour))
	}
	if _, l, _ := v.Lookup(long.Tokens[0]); !l.Expires.Equal(received.Add(DefaultRetention)) {
		t.Fatalf("default lifetime: expires %v, want %v", l.Expires, received.Add(DefaultRetention))
	}
	c.Advance(time.Hour - time.Second)
	mustOpen(t, v, short.Tokens[0], "a second before its expiry")
	c.Advance(time.Second)
	mustBeExpired(t, v, short.Tokens[0], "at its expiry")
	mustBeExpired(t, v, short.Tokens[1], "at its expiry, the other recipient")
	mustOpen(t, v, long.Tokens[0], "the message on the default retention")

	r, err := v.Sweep()
	if err != nil || r.Expired != 1 {
		t.Fatalf("Sweep = %+v, %v; want the one message expired", r, err)
	}
	evs, _ := v.Events(short.ID)
	if n := countKind(evs, EventExpired); n != 2 {
		t.Errorf("%d expired events, want one per recipient", n)
	}
	// The hour of its expiry (10:30) ends at 11:00: its key goes.
	c.Advance(31 * time.Minute)
	if r, err := v.Sweep(); err != nil || r.Keys == 0 {
		t.Fatalf("Sweep at the hour's end = %+v, %v; want its key destroyed", r, err)
	}
	scan := scanNow(t, v, o, append(short.Tokens, long.Tokens...), escrow)
	for _, f := range opened(scan, short.ID) {
		t.Errorf("expired message: %s", f)
	}
	if !scan.Has(long.ID, "content") || !scan.Has(long.ID, "escrow message key") {
		t.Errorf("control: the live message does not open: %v", scan.Of(long.ID))
	}
}

// TestExpiredBeforeItsHourEnds: a copy made a little after a message's
// expiry opens nothing of it, although the key of its expiry hour lives on
// for the hour's other messages: Sweep replaces that key (at most once per
// expiryReplaceEvery), resealing the rest of the hour.
func TestExpiredBeforeItsHourEnds(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup")
	v, o, c, escrow := openExpiryTest(t)
	rcpt := func(exp time.Duration) Recipient { return withExp(smsRecipient("+46701234567", pn1), exp) }
	first := accept(t, v, incoming(mime("Först "+randomHex(8), nil), rcpt(time.Hour)))                       // 10:30
	second := accept(t, v, incoming(mime("Sedan "+randomHex(8), nil), rcpt(time.Hour+expiryReplaceEvery/2))) // half a replacement interval later
	last := accept(t, v, incoming(mime("Sist "+randomHex(8), nil), rcpt(time.Hour+15*time.Minute)))          // 10:45, the same hour
	tokens := append(append(append([]string{}, first.Tokens...), second.Tokens...), last.Tokens...)

	c.Advance(time.Hour)
	if r, err := v.Sweep(); err != nil || r.Expired != 1 || r.Keys != 1 {
		t.Fatalf("Sweep at the first expiry = %+v, %v; want it expired and its hour's key replaced", r, err)
	}
	scan := scanNow(t, v, o, tokens, escrow)
	for _, f := range opened(scan, first.ID) {
		t.Errorf("expired message, 25 minutes before its hour ends: %s", f)
	}
	for _, a := range []Accepted{second, last} {
		if !scan.Has(a.ID, "content") {
			t.Errorf("control: %s, not yet expired, does not open after its key was replaced: %v", a.ID, scan.Of(a.ID))
		}
	}

	// Half an interval later the second expires; its key was replaced
	// just now, so the replacement waits for expiryReplaceEvery.
	c.Advance(expiryReplaceEvery / 2)
	if r, err := v.Sweep(); err != nil || r.Expired != 1 || r.Keys != 0 {
		t.Fatalf("Sweep at the second expiry = %+v, %v; want it expired and the replacement owed", r, err)
	}
	if next, ok := v.shred.next(); !ok || !next.Equal(c.Now().Add(expiryReplaceEvery/2)) {
		t.Errorf("owed replacement at %v (%v); want %v", next, ok, c.Now().Add(expiryReplaceEvery/2))
	}
	c.Advance(expiryReplaceEvery / 2)
	if r, err := v.Sweep(); err != nil || r.Keys != 1 {
		t.Fatalf("Sweep when the replacement is due = %+v, %v; want the key replaced", r, err)
	}
	scan = scanNow(t, v, o, tokens, escrow)
	for _, a := range []Accepted{first, second} {
		for _, f := range opened(scan, a.ID) {
			t.Errorf("expired message %s: %s", a.ID, f)
		}
	}
	if !scan.Has(last.ID, "content") || !scan.Has(last.ID, "escrow message key") {
		t.Errorf("control: the hour's live message does not open: %v", scan.Of(last.ID))
	}
}

// opened is what of message id opened in r: its key or content. The tokens
// are the thief's anyway (given to the scan, as kept from an old SMS), so
// a pending notification's sealed token tells nothing here.
func opened(r vaulttest.Report, id string) []vaulttest.Finding {
	var out []vaulttest.Finding
	for _, f := range r.Of(id) {
		if f.What != "sealed token" && f.What != "clear token" {
			out = append(out, f)
		}
	}
	return out
}

func countKind(evs []Event, kind EventKind) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// TestLifetimeOfMessage: one message has one lifetime, the shortest that
// was asked for, and never longer than MaxRetention.
func TestLifetimeOfMessage(t *testing.T) {
	v, _, c, _ := openExpiryTest(t)
	rcpt := func(exp time.Duration) Recipient { return withExp(smsRecipient("+46701234567", pn1), exp) }
	for _, tt := range []struct {
		name string
		in   Incoming
		want time.Duration
	}{
		{"no exp=", incoming(mime("a", nil), rcpt(0)), DefaultRetention},
		{"exp=7d", incoming(mime("b", nil), rcpt(7*24*time.Hour)), 7 * 24 * time.Hour},
		{"exp= longer than retention", incoming(mime("c", nil), rcpt(60*24*time.Hour)), 60 * 24 * time.Hour},
		{"the shortest of two recipients", incoming(mime("d", nil), rcpt(2*time.Hour), rcpt(time.Hour), rcpt(0)), time.Hour},
		{"Incoming.Lifetime shorter", func() Incoming {
			in := incoming(mime("e", nil), rcpt(time.Hour))
			in.Lifetime = 30 * time.Minute
			return in
		}(), 30 * time.Minute},
		{"Incoming.Lifetime alone", func() Incoming { in := incoming(mime("f", nil)); in.Lifetime = 3 * time.Hour; return in }(), 3 * time.Hour},
		{"beyond MaxRetention", incoming(mime("g", nil), rcpt(200*24*time.Hour)), DefaultMaxRetention},
	} {
		a := accept(t, v, tt.in)
		_, l, err := v.Lookup(a.Tokens[0])
		if err != nil || !l.Expires.Equal(c.Now().Add(tt.want)) {
			t.Errorf("%s: expires %v, %v; want %v", tt.name, l.Expires.Sub(c.Now()), err, tt.want)
		}
	}
	if _, err := Open(Options{Path: t.TempDir() + "/v.db", Retention: 48 * time.Hour, MaxRetention: 24 * time.Hour}); err == nil {
		t.Error("Open took a MaxRetention shorter than Retention")
	}
}

// TestReplies: the sender's reply= is kept with the recipient and told by
// the letter.
func TestReplies(t *testing.T) {
	v, _ := openTest(t, nil)
	no, yes := smsRecipient("+46701234567", pn1), smsRecipient("+46701234568", pn2)
	no.Reply = addressing.RepliesNo
	a := accept(t, v, incoming(mime("x", nil), no, yes, emailRecipient("anna@example.org", pn3)))
	for i, want := range []bool{false, true, true} {
		_, l, err := v.Lookup(a.Tokens[i])
		if err != nil || l.RepliesAllowed() != want {
			t.Errorf("recipient %d: replies allowed %v, %v; want %v", i, l.RepliesAllowed(), err, want)
		}
	}
}

// TestExtendExpiry: a message extended before its expiry stays readable
// until the new expiry, also from copies made after its old hour's key is
// destroyed, and not after the new hour ends.
func TestExtendExpiry(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup")
	v, o, c, escrow := openExpiryTest(t)
	received := c.Now() // 09:30
	a := accept(t, v, incoming(mime("Förläng "+randomHex(8), nil), withExp(smsRecipient("+46701234567", pn1), time.Hour), emailRecipient("anna@example.org", pn2)))
	other := accept(t, v, incoming(mime("Samma timme "+randomHex(8), nil), withExp(smsRecipient("+46701234568", pn3), time.Hour)))

	old, err := v.SetExpiry(a.ID, received.Add(5*time.Hour), "staff@kommun.example.se")
	if err != nil || !old.Equal(received.Add(time.Hour)) {
		t.Fatalf("SetExpiry = %v, %v; want the old expiry %v", old, err, received.Add(time.Hour))
	}
	if _, l, _ := v.Lookup(a.Tokens[0]); !l.Expires.Equal(received.Add(5 * time.Hour)) {
		t.Fatalf("Lookup: expires %v", l.Expires)
	}
	evs, _ := v.Events(a.ID)
	var changed []Event
	for _, ev := range evs {
		if ev.Kind == EventExpiryChanged {
			changed = append(changed, ev)
		}
	}
	if len(changed) != 2 || changed[0].By != "staff@kommun.example.se" || changed[1].Recipient != 1 ||
		!strings.Contains(changed[0].Detail, "from 2026-03-02T10:30:00Z to 2026-03-02T14:30:00Z") {
		t.Fatalf("expiry_changed events: %+v", changed)
	}

	// Past the old expiry and the end of its hour (11:00): the old hour's
	// key is gone, with the other message of that hour.
	c.Advance(2 * time.Hour)
	if r, err := v.Sweep(); err != nil || r.Expired != 1 || r.Keys == 0 {
		t.Fatalf("Sweep = %+v, %v; want the other message expired and the old hour's key destroyed", r, err)
	}
	mustOpen(t, v, a.Tokens[0], "extended, after its old expiry")
	mustBeExpired(t, v, other.Tokens[0], "control: the other message of the old hour")
	scan := scanNow(t, v, o, append(a.Tokens, other.Tokens...), escrow)
	if !scan.Has(a.ID, "content") || !scan.Has(a.ID, "escrow message key") {
		t.Errorf("extended message does not open from a copy made after its old hour: %v", scan.Of(a.ID))
	}
	for _, f := range opened(scan, other.ID) {
		t.Errorf("control, expired at the old expiry: %s", f)
	}

	c.Advance(3 * time.Hour) // 14:30, the new expiry
	mustBeExpired(t, v, a.Tokens[1], "at the new expiry")
	if _, err := v.SetExpiry(a.ID, c.Now().Add(time.Hour), "staff@kommun.example.se"); !errors.Is(err, ErrExpired) {
		t.Errorf("SetExpiry after the expiry = %v, want ErrExpired", err)
	}
	c.Advance(31 * time.Minute)
	if _, err := v.Sweep(); err != nil {
		t.Fatal(err)
	}
	for _, f := range opened(scanNow(t, v, o, a.Tokens, escrow), a.ID) {
		t.Errorf("after the new expiry's hour: %s", f)
	}
}

// TestShortenExpiry: a message shortened is refused from its new expiry,
// and after the new hour ends the key file and key store, even with a
// backup of the vault file made before the change (which holds the old
// seal of its expiry secret, as free pages may), do not open it with its
// tokens or the escrow key, although its old hour has weeks to go; another
// message of that old hour keeps opening, before and after.
func TestShortenExpiry(t *testing.T) {
	boltOnly(t, "reads a copy from the vault's Backup")
	v, o, c, escrow := openExpiryTest(t)
	received := c.Now()
	a := accept(t, v, incoming(mime("Förkorta "+randomHex(8), nil), smsRecipient("+46701234567", pn1), emailRecipient("anna@example.org", pn2)))
	other := accept(t, v, incoming(mime("Samma timme "+randomHex(8), nil), smsRecipient("+46701234568", pn3)))
	old := backupBytes(t, v)
	before := scanNow(t, v, o, append(a.Tokens, other.Tokens...), escrow)
	if !before.Has(a.ID, "content") || !before.Has(other.ID, "content") {
		t.Fatalf("control: before the change: %v", before.Findings)
	}

	if _, err := v.SetExpiry(a.ID, received.Add(time.Hour), "admin"); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, v, a.Tokens[0], "shortened, before the new expiry")
	mustOpen(t, v, other.Tokens[0], "the other message of the old hour, its key replaced")
	if _, err := v.EscrowMessage(other.ID); err != nil {
		t.Errorf("escrow export of the other message after its key was replaced: %v", err)
	}
	c.Advance(time.Hour)
	mustBeExpired(t, v, a.Tokens[0], "at the new expiry")
	mustOpen(t, v, other.Tokens[0], "the other message")
	c.Advance(31 * time.Minute) // the new hour has ended
	if r, err := v.Sweep(); err != nil || r.Expired != 1 {
		t.Fatalf("Sweep = %+v, %v", r, err)
	}
	after := vaulttest.Scan(stolen(t, o, map[string][]byte{"backup before the change": old, "backup": backupBytes(t, v)}, append(a.Tokens, other.Tokens...), escrow))
	logReport(t, after)
	for _, f := range opened(after, a.ID) {
		t.Errorf("shortened message from a copy made after its new hour: %s", f)
	}
	if !after.Has(other.ID, "content") || !after.Has(other.ID, "escrow message key") {
		t.Errorf("control: the other message of the old hour does not open: %v", after.Of(other.ID))
	}
	// It still does after a restart: its new key is in the key store.
	v = reopen(t, v, o)
	mustOpen(t, v, other.Tokens[0], "the other message after a restart")
}

// TestSetExpiryRefusals: only a future instant within MaxRetention of the
// message's receipt, for a message that has not expired.
func TestSetExpiryRefusals(t *testing.T) {
	v, _, c, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("x", nil)))
	received := c.Now()
	for _, tt := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"now", received, ErrBadExpiry},
		{"in the past", received.Add(-time.Minute), ErrBadExpiry},
		{"beyond max retention", received.Add(DefaultMaxRetention + time.Minute), ErrBadExpiry},
	} {
		if _, err := v.SetExpiry(a.ID, tt.at, "admin"); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := v.SetExpiry(a.ID, received.Add(DefaultMaxRetention), "admin"); err != nil {
		t.Errorf("at max retention: %v", err)
	}
	if _, err := v.SetExpiry("00000000000000000000", received.Add(time.Hour), "admin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown message: %v", err)
	}
	if got, exp, err := v.Expiry(a.ID); err != nil || !got.Equal(received) || !exp.Equal(received.Add(DefaultMaxRetention)) {
		t.Errorf("Expiry = %v, %v, %v", got, exp, err)
	}
}

// TestReplacedKeySurvivesRestart: a key store written in the middle of a
// key replacement (successor made, messages not yet sealed again) keeps
// both keys across a restart, every message opens, and the background
// pass finishes the replacement and destroys the old key.
func TestReplacedKeySurvivesRestart(t *testing.T) {
	v, o, c, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("En "+randomHex(8), nil)))
	b := accept(t, v, incoming(mime("Två "+randomHex(8), nil)))
	old, err := v.keys.expiryKeyFor(c.Now().Add(DefaultRetention))
	if err != nil {
		t.Fatal(err)
	}
	v.keys.releaseExpiry(old)
	if err := v.keys.replaceExpiry(old); err != nil { // and then sigill stops
		t.Fatal(err)
	}
	v = reopen(t, v, o)
	mustOpen(t, v, a.Tokens[0], "after a restart mid-replacement")
	if n := len(v.keys.toFinish()); n != 1 {
		t.Fatalf("%d retiring keys after the restart, want 1", n)
	}
	if err := v.shredPass(true); err != nil {
		t.Fatal(err)
	}
	if n := len(v.keys.toFinish()); n != 0 || v.keys.expiryKeyAt(old.start.Unix(), old.id) != nil {
		t.Fatalf("the old key is still there after the pass (%d retiring)", n)
	}
	mustOpen(t, v, a.Tokens[0], "sealed again under the successor")
	mustOpen(t, v, b.Tokens[0], "sealed again under the successor")
	v = reopen(t, v, o)
	mustOpen(t, v, b.Tokens[0], "after another restart")
}

// TestSweeperWakesAtExpiry: RunSweeper, which otherwise sweeps on the hour,
// expires a message of a short lifetime soon after its expiry (the real
// clock runs here), woken by the Accept that made it.
func TestSweeperWakesAtExpiry(t *testing.T) {
	v, _ := openTest(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { v.RunSweeper(ctx, time.Hour); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the first sweep has run; the sweeper sleeps towards the hour
	in := incoming(mime("Snart "+randomHex(8), nil))
	in.Lifetime = 2 * time.Second
	a := accept(t, v, in)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		evs, err := v.Events(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if countKind(evs, EventExpired) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after its expiry the message is not swept: %+v", evs)
		}
	}
}
