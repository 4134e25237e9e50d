package vault

import (
	"errors"
	"testing"
	"time"
)

// ChangeExpiry counts a lifetime from the message's receipt (not from
// now), takes an instant as it is, says what it replaced, and refuses a
// change that asks for nothing or for more than the longest lifetime.
func TestChangeExpiry(t *testing.T) {
	v, _, c, _ := openExpiryTest(t)
	a := accept(t, v, incoming(mime("x", nil)))
	received := c.Now().UTC()
	c.Advance(time.Hour)
	got, err := v.ChangeExpiry(a.ID, ExpiryChange{Lifetime: 3 * time.Hour}, "anna@staff.test")
	if err != nil || !got.Received.Equal(received) || !got.Expires.Equal(received.Add(3*time.Hour)) || !got.Old.Equal(received.Add(DefaultRetention)) {
		t.Fatalf("a lifetime of 3h: %+v, %v", got, err)
	}
	at := received.Add(48 * time.Hour)
	got, err = v.ChangeExpiry(a.ID, ExpiryChange{At: at}, "anna@staff.test")
	if err != nil || !got.Expires.Equal(at) || !got.Old.Equal(received.Add(3*time.Hour)) {
		t.Fatalf("an instant: %+v, %v", got, err)
	}
	if _, exp, _ := v.Expiry(a.ID); !exp.Equal(at) {
		t.Errorf("the expiry is %v, want %v", exp, at)
	}
	for name, ch := range map[string]ExpiryChange{"nothing": {}, "beyond the longest lifetime": {Lifetime: DefaultMaxRetention + time.Hour}} {
		if _, err := v.ChangeExpiry(a.ID, ch, "anna@staff.test"); !errors.Is(err, ErrBadExpiry) {
			t.Errorf("%s: %v, want ErrBadExpiry", name, err)
		}
	}
	if _, err := v.ChangeExpiry("00000000000000000000", ExpiryChange{Lifetime: time.Hour}, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown message: %v", err)
	}
}
