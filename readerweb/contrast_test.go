package readerweb

import (
	"regexp"
	"strings"
	"testing"

	"sigill/internal/testenv"
)

// The focus outline must stand out at 3:1 at least (WCAG 2.2, 1.4.11
// non-text contrast) against every colour it can sit next to: the page
// background and the notices' backgrounds, and the text of a focused link.
// The rule keeps a gap (outline-offset) of page background between the
// outline and a button, so the button's own colour is never adjacent.
func TestFocusOutlineContrast(t *testing.T) {
	css, err := staticFS.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	vars := testenv.CSSColorVars(t, string(css))
	focus, ok := vars["--focus"]
	if !ok {
		t.Fatal("app.css defines no --focus colour")
	}
	for _, next := range []string{"--bg", "--soft", "--errsoft", "--fg"} {
		c, ok := vars[next]
		if !ok {
			t.Fatalf("app.css defines no %s colour", next)
		}
		if r := testenv.ContrastRatio(focus, c); r < 3 {
			t.Errorf("focus outline %s on %s %s: contrast %.2f:1, want at least 3:1", focus, next, c, r)
		}
	}
	rule := regexp.MustCompile(`:focus-visible[^{]*\{([^}]*)\}`).FindStringSubmatch(string(css))
	if rule == nil {
		t.Fatal("app.css has no :focus-visible rule")
	}
	if !strings.Contains(rule[1], "var(--focus)") {
		t.Errorf("the :focus-visible rule does not draw in var(--focus): %s", rule[1])
	}
	if m := regexp.MustCompile(`outline-offset:\s*(\d+)px`).FindStringSubmatch(rule[1]); m == nil || m[1] == "0" {
		t.Errorf("the :focus-visible rule has no outline-offset, so the outline would touch the button: %s", rule[1])
	}
}
