package readerweb

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
	vars := cssColorVars(t, string(css))
	focus, ok := vars["--focus"]
	if !ok {
		t.Fatal("app.css defines no --focus colour")
	}
	for _, next := range []string{"--bg", "--soft", "--errsoft", "--fg"} {
		c, ok := vars[next]
		if !ok {
			t.Fatalf("app.css defines no %s colour", next)
		}
		if r := contrastRatio(focus, c); r < 3 {
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

func TestContrastRatio(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000", "#fff", 21},
		{"#fff", "#fff", 1},
		{"#f0a500", "#fff", 2.08}, // the figure for the old outline
		{"#767676", "#ffffff", 4.54},
	} {
		if got := contrastRatio(c.a, c.b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast %s/%s = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}

// cssColorVars reads the custom properties of :root that hold a hex colour.
func cssColorVars(t *testing.T, css string) map[string]string {
	t.Helper()
	root := regexp.MustCompile(`:root\s*\{([^}]*)\}`).FindStringSubmatch(css)
	if root == nil {
		t.Fatal("app.css has no :root rule")
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\b`).FindAllStringSubmatch(root[1], -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// contrastRatio is WCAG 2's contrast ratio of two sRGB colours written
// #rgb or #rrggbb.
func contrastRatio(a, b string) float64 {
	la, lb := relativeLuminance(a), relativeLuminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func relativeLuminance(hex string) float64 {
	h := strings.TrimPrefix(hex, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	channel := func(i int) float64 {
		v, err := strconv.ParseUint(h[i:i+2], 16, 8)
		if err != nil {
			panic("not a hex colour: " + hex)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*channel(0) + 0.7152*channel(2) + 0.0722*channel(4)
}
