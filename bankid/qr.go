package bankid

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"rsc.io/qr"
)

// QRData returns the animated QR code's content for one second:
//
//	bankid.<qrStartToken>.<seconds>.<hex HMAC-SHA256(key=qrStartSecret, msg=seconds)>
//
// where seconds is the whole number of seconds since the /auth answer
// arrived and msg is its decimal form. The server computes it every second;
// qrStartSecret never leaves the server.
func QRData(qrStartToken, qrStartSecret string, seconds int) string {
	t := strconv.Itoa(seconds)
	return "bankid." + qrStartToken + "." + t + "." + qrAuthCode(qrStartSecret, t)
}

func qrAuthCode(secret, t string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t))
	return hex.EncodeToString(mac.Sum(nil))
}

// qrQuietZone is the white border QR readers need, in modules.
const qrQuietZone = 4

// QRSVG draws data as a QR code in a compact SVG for inline use in a page:
// a white square and a single <path> of black modules, one unit per module,
// sized by the viewBox (set its width with CSS). It refers to nothing
// outside itself, so it passes a strict Content-Security-Policy.
func QRSVG(data string) (string, error) {
	code, err := qr.Encode(data, qr.L)
	if err != nil {
		return "", fmt.Errorf("bankid: drawing QR code: %w", err)
	}
	n := code.Size + 2*qrQuietZone
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	// One horizontal run of black modules per subpath: "M x y h w v1 h-w z".
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			start := x
			for x < code.Size && code.Black(x, y) {
				x++
			}
			w := x - start
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start+qrQuietZone, y+qrQuietZone, w, w)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}

// LaunchURL returns the link that starts the BankID app on the same device:
//
//	bankid:///?autostarttoken=<token>&redirect=<returnURL>        (desktop)
//	https://app.bankid.com/?autostarttoken=<token>&redirect=<returnURL>  (mobile)
//
// returnURL is percent-encoded as one query value, as BankID's sample code
// does with encodeURIComponent. When it is empty the link says
// redirect=null, which tells the app not to return anywhere (BankID's own
// sample does so on desktop). A returnUrl sent with /auth takes precedence
// over redirect: the app then ignores the URL it was started with.
func LaunchURL(autoStartToken, returnURL string, mobile bool) string {
	redirect := "null"
	if returnURL != "" {
		// QueryEscape writes a space as "+", which the app would not read
		// back as a space; encodeURIComponent, which BankID's examples use,
		// writes %20.
		redirect = strings.ReplaceAll(url.QueryEscape(returnURL), "+", "%20")
	}
	prefix := "bankid:///"
	if mobile {
		prefix = "https://app.bankid.com/"
	}
	return prefix + "?autostarttoken=" + url.QueryEscape(autoStartToken) + "&redirect=" + redirect
}
