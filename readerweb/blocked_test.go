package readerweb

import (
	"regexp"
	"strings"
	"testing"
)

func imgsWithoutSrc(html string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<img\b[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, " src=") {
			out = append(out, m)
		}
	}
	return out
}

// An image from elsewhere becomes a note that says it was blocked (with its
// alt text); one whose cid: the message lacks goes; no <img> is left
// without a source.
func TestBlockedImagesLeaveANote(t *testing.T) {
	src := `<p>Före<img src="https://remote.example/logo.png" alt="Regionens logga" width="10">` +
		`<img src="http://remote.example/track.gif" width="1" height="1">` +
		`<img src="cid:nothere@x" alt="saknas">` +
		`<img alt="ingen källa">` +
		`<img src="cid:logo@x" alt="logo">efter</p>`
	out := sanitizeHTML(src, func(cid string) (string, bool) { return "/m/x/cid/1", cid == "logo@x" })
	if bad := imgsWithoutSrc(out); len(bad) > 0 {
		t.Errorf("images without a source left: %q in\n%s", bad, out)
	}
	for lang, note := range map[string]string{"sv": "Extern bild blockerad", "en": "External image blocked"} {
		shown := withBlockedNotes(out, textsFor(lang, "sv").ImageBlocked)
		for _, want := range []string{
			`<span class="blocked">` + note + `: Regionens logga</span>`,
			`<span class="blocked">` + note + `</span>`,
			`<img src="/m/x/cid/1" alt="logo">`,
			`<p>Före`, `efter</p>`,
		} {
			if !strings.Contains(shown, want) {
				t.Errorf("%s: %q missing from\n%s", lang, want, shown)
			}
		}
		if n := strings.Count(shown, `class="blocked"`); n != 2 {
			t.Errorf("%s: %d notes, want one for each image from elsewhere:\n%s", lang, n, shown)
		}
		if strings.Contains(shown, "saknas") || strings.Contains(shown, "ingen källa") || strings.Contains(shown, "data-sigill") {
			t.Errorf("%s: a sourceless image or the placeholder's mark shows:\n%s", lang, shown)
		}
	}
}

// A message cannot write the placeholder itself to make its own text look
// like sigill's.
func TestBlockedPlaceholderCannotBeForged(t *testing.T) {
	out := withBlockedNotes(sanitizeHTML(`<span class="blocked" data-sigill-blocked>Klicka här</span>`,
		func(string) (string, bool) { return "", false }), "Extern bild blockerad")
	if strings.Contains(out, "blocked") {
		t.Errorf("the message's own placeholder survived: %s", out)
	}
}

// The page a reader sees carries the note in the reader's language, and no
// empty <img>.
func TestBlockedImageNoteOnPage(t *testing.T) {
	t.Parallel()
	b, token := openedByReader(t, "Test", []byte(hostileMail))
	for lang, note := range map[string]string{"sv": "Extern bild blockerad", "en": "External image blocked"} {
		page := b.get("/m/" + token + "?lang=" + lang).body
		if n := strings.Count(page, `<span class="blocked">`+note+`</span>`); n != 2 {
			t.Errorf("%s: %d notes %q, want 2 (the two remote images):\n%s", lang, n, note, page)
		}
		if bad := imgsWithoutSrc(page); len(bad) > 0 {
			t.Errorf("%s: images without a source: %q", lang, bad)
		}
	}
	var lj letterJSON
	mustJSON(t, b.get("/m/"+token+"/message.json?lang=en").body, &lj)
	if !strings.Contains(lj.HTML, `<span class="blocked">External image blocked</span>`) || len(imgsWithoutSrc(lj.HTML)) > 0 {
		t.Errorf("message.json HTML:\n%s", lj.HTML)
	}
}
