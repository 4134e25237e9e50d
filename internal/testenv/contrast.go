package testenv

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// CSSColorVars reads the custom properties of a style sheet's :root rule
// that hold a hex colour, for the pages' contrast tests.
func CSSColorVars(t testing.TB, css string) map[string]string {
	t.Helper()
	root := regexp.MustCompile(`:root\s*\{([^}]*)\}`).FindStringSubmatch(css)
	if root == nil {
		t.Fatal("the style sheet has no :root rule")
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(--[\w-]+)\s*:\s*(#[0-9a-fA-F]{3,6})\b`).FindAllStringSubmatch(root[1], -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// ContrastRatio is WCAG 2's contrast ratio of two sRGB colours written
// #rgb or #rrggbb.
func ContrastRatio(a, b string) float64 {
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
