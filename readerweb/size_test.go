package readerweb

import (
	"net/url"
	"regexp"
	"testing"
)

// The landing page with everything it loads (HTML, CSS, script) stays under
// 30 KB; so does the pending page with its QR code.
func TestPageWeight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	weigh := func(name, html string) {
		total := len(html)
		assets := 0
		for _, m := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(html, -1) {
			r := b.get(m[1])
			if r.status != 200 {
				t.Fatalf("%s: %d", m[1], r.status)
			}
			assets += len(r.body)
		}
		total += assets
		t.Logf("%s: HTML %d B + CSS and JS %d B = %d B", name, len(html), assets, total)
		if total >= 30*1024 {
			t.Errorf("%s weighs %d B, over 30 KB", name, total)
		}
	}
	weigh("landing page", b.get("/m/"+token).body)
	b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}})
	weigh("pending page with QR", b.get("/m/"+token).body)
}
