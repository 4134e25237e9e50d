package staffweb

import (
	"regexp"
	"strings"
	"testing"

	"sigill/internal/testenv"
)

// TestContrast: WCAG 2.1 AA for staff.css's colours. Text (the body's,
// the hints', links, faults, the buttons' white on the accent) at 4.5:1
// on every background it sits on; the focus outline (1.4.11) at 3:1
// against the backgrounds beside it and the focused link's text, drawn by
// the :focus-visible rule of every focusable element with a gap of page
// background to the element (so a button's own colour never touches it);
// the fields' border at 3:1.
func TestContrast(t *testing.T) {
	raw, err := staticFS.ReadFile("static/staff.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(raw)
	vars := testenv.CSSColorVars(t, css)
	vars["white"] = "#fff"
	need := func(fg, bg string, min float64) {
		t.Helper()
		a, b := vars[fg], vars[bg]
		if a == "" || b == "" {
			t.Fatalf("staff.css defines no %s or %s", fg, bg)
		}
		if r := testenv.ContrastRatio(a, b); r < min {
			t.Errorf("%s %s on %s %s: %.2f:1, want at least %.1f:1", fg, a, bg, b, r, min)
		}
	}
	for _, bg := range []string{"--bg", "--soft", "--errsoft"} {
		for _, fg := range []string{"--fg", "--muted", "--accent", "--err", "--ok"} {
			need(fg, bg, 4.5)
		}
		need("--focus", bg, 3)
	}
	need("white", "--accent", 4.5)
	need("--focus", "--fg", 3)

	rule := regexp.MustCompile(`([^}]*):focus-visible\{([^}]*)\}`).FindStringSubmatch(css)
	if rule == nil {
		t.Fatal("staff.css has no :focus-visible rule")
	}
	for _, el := range []string{"a:focus-visible", "button:focus-visible", "input:focus-visible", "select:focus-visible", "textarea:focus-visible", "summary:focus-visible"} {
		if !strings.Contains(rule[0], el) {
			t.Errorf("the focus rule does not cover %s", el)
		}
	}
	if !strings.Contains(rule[2], "3px solid var(--focus)") || !regexp.MustCompile(`outline-offset:[1-9]`).MatchString(rule[2]) {
		t.Errorf("the focus rule does not draw 3px of var(--focus) with a gap: %s", rule[2])
	}
	border := regexp.MustCompile(`input\[type=text\][^{]*\{[^}]*border:1px solid (#[0-9a-f]{6})`).FindStringSubmatch(css)
	if border == nil {
		t.Fatal("no border colour for the fields")
	}
	if r := testenv.ContrastRatio(border[1], vars["--bg"]); r < 3 {
		t.Errorf("the fields' border %s: %.2f:1, want 3:1", border[1], r)
	}
}
