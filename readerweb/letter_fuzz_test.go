package readerweb

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// FuzzParseLetter feeds parseLetter what a sender could write: every MIME
// shape, HTML and winmail.dat. Whatever it is, the sanitised HTML runs
// nothing and leaves no empty <img>, and every listed attachment is a part.
func FuzzParseLetter(f *testing.F) {
	for _, name := range []string{"outlook-html-inline-image.eml", "thunderbird-attachment.eml", "outlook-windows-1252.eml", "outlook-winmail-dat.eml"} {
		if data, err := os.ReadFile("../testdata/mail/" + name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(hostileMail))
	script := regexp.MustCompile(`(?i)<script|\son[a-z]+\s*=|javascript:`)
	f.Fuzz(func(t *testing.T, raw []byte) {
		lb, err := parseLetter(raw, "/m/x")
		if err != nil {
			return
		}
		if script.MatchString(lb.HTML) {
			t.Fatalf("script survived: %s", lb.HTML)
		}
		if bad := imgsWithoutSrc(lb.HTML); len(bad) > 0 {
			t.Fatalf("images without a source: %q", bad)
		}
		for _, i := range lb.Attachments {
			if i < 0 || i >= len(lb.Parts) || strings.ContainsAny(lb.Parts[i].Name, "/\\\"") {
				t.Fatalf("attachment %d of %d parts, name %q", i, len(lb.Parts), lb.Parts[i].Name)
			}
		}
	})
}
