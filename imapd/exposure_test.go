package imapd

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"sigill/vault"
)

// The IMAP copy of a receipt is the mailed one: it shows the opener the
// sender named in the address masked, in the text and in Final-Recipient;
// whole only with Org.WholePersonalNumber.
func TestReceiptShowsNamedOpenerMasked(t *testing.T) {
	t.Parallel()
	for _, whole := range []bool{false, true} {
		e := newEnv(t, func(o *Options) { o.Org.WholePersonalNumber = whole })
		id := e.send(anna, anna, "Provsvar")
		e.record(id, vault.EventOpened, pn1, "Anna Andersson")
		c, _ := e.login(anna, annaPass, nil)
		body := &imap.FetchItemBodySection{Peek: true}
		msgs := fetch(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{body}})
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		raw := string(msgs[0].FindBodySection(body))
		shown := strings.Contains(raw, pn1) || strings.Contains(raw, pn1[:8]+"-"+pn1[8:])
		if shown != whole || !whole && !strings.Contains(raw, "Anna Andersson 19990807-****") {
			t.Errorf("WholePersonalNumber %v: the whole number shown: %v\n%s", whole, shown, raw)
		}
	}
}
