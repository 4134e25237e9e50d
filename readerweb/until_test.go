package readerweb

import (
	"strings"
	"testing"
	"time"

	"sigill/addressing"
	"sigill/internal/testenv"
)

// TestReadableUntil: the link's page and the message's page say until when
// the message can be read, in Swedish time (summer time in April: UTC+2),
// in Swedish and in English; after that the link opens nothing.
func TestReadableUntil(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(time.Date(2026, 3, 20, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, envConfig{vaultClock: clock.Now})
	rcpt := recipient(pnA)
	rcpt.Exp = addressing.Lifetime(14 * 24 * time.Hour) // until 2026-04-03 09:00 UTC, 11:00 in Stockholm
	_, token := e.accept("Provsvar", sample(t, "outlook-html-inline-image.eml"), rcpt)
	b := e.browser()
	for _, tt := range []struct{ query, label, when string }{
		{"", "Kan läsas till", "3 april 2026 kl. 11:00"},
		{"?lang=en", "Readable until", "3 April 2026 at 11:00"},
	} {
		page := b.get("/m/" + token + tt.query)
		if page.status != 200 || !strings.Contains(page.body, "<dt>"+tt.label+"</dt><dd><time datetime=\"2026-04-03T09:00:00Z\">"+tt.when+"</time></dd>") {
			t.Errorf("landing page%s does not say %s %s:\n%s", tt.query, tt.label, tt.when, page.body)
		}
	}
	if st := b.openWithQR(token, pnA); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	page := b.get("/m/" + token)
	if !strings.Contains(page.body, "<dt>Kan läsas till</dt><dd><time datetime=\"2026-04-03T09:00:00Z\">3 april 2026 kl. 11:00</time></dd>") ||
		!strings.Contains(page.body, "Legitimerad som") {
		t.Errorf("the message's page does not say until when:\n%s", page.body)
	}

	clock.Advance(14 * 24 * time.Hour)
	page = e.browser().get("/m/" + token)
	if strings.Contains(page.body, "Kan läsas till") || !strings.Contains(page.body, textsSV.InvalidTitle) {
		t.Errorf("after its expiry the link still shows the letter:\n%s", page.body)
	}
}
