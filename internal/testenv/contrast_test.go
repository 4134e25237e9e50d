package testenv

import (
	"math"
	"testing"
)

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
		if got := ContrastRatio(c.a, c.b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast %s/%s = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}
