package readerweb

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/net/html"
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
	f.Fuzz(func(t *testing.T, raw []byte) {
		lb, err := parseLetter(raw, "/m/x")
		if err != nil {
			return
		}
		if active := activeContent(lb.HTML); len(active) > 0 {
			t.Fatalf("script survived: %q in %s", active, lb.HTML)
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

// activeContent is what in sanitised HTML could run: a script-bearing
// element, an on* attribute, a javascript: URL. It reads the HTML as a
// browser's tokenizer does, so text that merely looks like an attribute
// ("rp onclick=" in a paragraph) is text, as the browser will show it.
func activeContent(sanitised string) []string {
	var found []string
	z := html.NewTokenizer(strings.NewReader(sanitised))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return found
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "frame", "base", "form":
				found = append(found, "<"+tok.Data+">")
			}
			for _, a := range tok.Attr {
				url := strings.ToLower(strings.Map(func(r rune) rune {
					if r <= ' ' {
						return -1
					}
					return r
				}, a.Val))
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(url, "javascript:") || strings.HasPrefix(url, "vbscript:") {
					found = append(found, tok.Data+" "+a.Key+"="+a.Val)
				}
			}
		}
	}
}

// The fuzz target's oracle finds what runs and passes what is only text.
func TestActiveContent(t *testing.T) {
	for in, want := range map[string]int{
		`<p>rp onclick= and javascript: as words</p>`: 0,
		`<p onclick="x()">a</p>`:                      1,
		`<a href=" JaVa&#10;script:alert(1)">a</a>`:   1,
		`<script>alert(1)</script>`:                   1,
		`<img src="/m/x/cid/1" alt="x">`:              0,
	} {
		if got := activeContent(in); len(got) != want {
			t.Errorf("activeContent(%q) = %q; want %d findings", in, got, want)
		}
	}
}
