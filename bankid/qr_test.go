package bankid

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"rsc.io/qr"
)

// BankID's published test vector for the animated QR code.
func TestQRDataTestVector(t *testing.T) {
	const (
		token  = "67df3917-fa0d-44e5-b327-edcc928297f8"
		secret = "d28db9a7-4cde-429e-a983-359be676944c"
		code   = "dc69358e712458a66a7525beef148ae8526b1c71610eff2c16cdffb4cdac9bf8"
	)
	want := "bankid." + token + ".0." + code
	if got := QRData(token, secret, 0); got != want {
		t.Fatalf("QRData(t=0)\n got %s\nwant %s", got, want)
	}
	if QRData(token, secret, 1) == want || !strings.HasPrefix(QRData(token, secret, 12), "bankid."+token+".12.") {
		t.Error("QRData does not depend on the second")
	}
}

var svgRun = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`)

func TestQRSVG(t *testing.T) {
	data := QRData("67df3917-fa0d-44e5-b327-edcc928297f8", "d28db9a7-4cde-429e-a983-359be676944c", 7)
	svg, err := QRSVG(data)
	if err != nil {
		t.Fatal(err)
	}
	code, err := qr.Encode(data, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Size + 2*qrQuietZone
	if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `+fmt.Sprint(n, " ", n)+`"`) || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not a sized SVG: %.120s…", svg)
	}
	if strings.Count(svg, "<path") != 1 {
		t.Errorf("%d paths, want one", strings.Count(svg, "<path"))
	}
	for _, bad := range []string{"href", "<image", "<script", "url(", "<style"} {
		if strings.Contains(svg, bad) {
			t.Errorf("SVG contains %q", bad)
		}
	}
	// The runs cover exactly the black modules.
	black := map[[2]int]bool{}
	for _, m := range svgRun.FindAllStringSubmatch(svg, -1) {
		var x, y, w, w2 int
		fmt.Sscan(m[1], &x)
		fmt.Sscan(m[2], &y)
		fmt.Sscan(m[3], &w)
		fmt.Sscan(m[4], &w2)
		if w != w2 {
			t.Fatalf("run %s does not close", m[0])
		}
		for i := 0; i < w; i++ {
			black[[2]int{x + i - qrQuietZone, y - qrQuietZone}] = true
		}
	}
	for y := -qrQuietZone; y < code.Size+qrQuietZone; y++ {
		for x := -qrQuietZone; x < code.Size+qrQuietZone; x++ {
			if code.Black(x, y) != black[[2]int{x, y}] {
				t.Fatalf("module (%d,%d): SVG %v, code %v", x, y, black[[2]int{x, y}], code.Black(x, y))
			}
		}
	}
	if len(svg) > 8000 {
		t.Errorf("SVG is %d bytes; runs should keep it compact", len(svg))
	}
}

func TestLaunchURL(t *testing.T) {
	const tok = "7c40b5c9-fa74-49cf-b98c-bfe651f9a7c6"
	cases := []struct {
		returnURL string
		mobile    bool
		want      string
	}{
		{"", false, "bankid:///?autostarttoken=" + tok + "&redirect=null"},
		{"", true, "https://app.bankid.com/?autostarttoken=" + tok + "&redirect=null"},
		{"https://read.example.se/m/abc?n=1&x=a b#r", true,
			"https://app.bankid.com/?autostarttoken=" + tok + "&redirect=https%3A%2F%2Fread.example.se%2Fm%2Fabc%3Fn%3D1%26x%3Da%20b%23r"},
		{"http://127.0.0.1:8080/m/abc", false, "bankid:///?autostarttoken=" + tok + "&redirect=http%3A%2F%2F127.0.0.1%3A8080%2Fm%2Fabc"},
	}
	for _, c := range cases {
		if got := LaunchURL(tok, c.returnURL, c.mobile); got != c.want {
			t.Errorf("LaunchURL(%q, %v)\n got %s\nwant %s", c.returnURL, c.mobile, got, c.want)
		}
	}
}
