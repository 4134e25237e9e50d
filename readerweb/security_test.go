package readerweb

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigill/bankid"
	"sigill/bankid/bankidsim"
	"sigill/internal/testenv"
	"sigill/vault"
)

// Mail scanners: GETs and HEADs of the link and everything under it, without
// cookies, never record "opened", never return content and set no cookie —
// even while the person's own session has completed BankID.
func TestScannerChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	scanner := e.browser()
	paths := []string{
		"/m/" + token, "/m/" + token + "?lang=en", "/m/" + token + "/auth", "/m/" + token + "/message.json",
		"/m/" + token + "/qr.svg", "/m/" + token + "/cid/2", "/m/" + token + "/att/2", "/m/" + token + "/att/0",
	}
	check := func(when string) {
		for _, p := range paths {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				req, _ := http.NewRequest(method, e.ts.URL+p, nil)
				r := scanner.do(req)
				if strings.Contains(r.body, "provsvar är klart") || strings.Contains(r.body, "PNG") {
					t.Errorf("%s %s %s returned content", when, method, p)
				}
				if r.header.Get("Set-Cookie") != "" {
					t.Errorf("%s %s %s set a cookie", when, method, p)
				}
			}
		}
		if evs := e.events(id); len(evs) != 0 {
			t.Fatalf("%s: events %+v", when, evs)
		}
	}
	check("before")

	// The person starts BankID and completes it; the scanner fetches again
	// before the person's browser comes back.
	person := e.browser()
	person.start(token, "other")
	st, _ := person.poll(token)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(func(o *order) bool { return o.status == "complete" })
	check("after completion")
	e.rw.mu.Lock()
	n := len(e.rw.sessions)
	e.rw.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d sessions: a GET made one", n)
	}
	// HEAD with the person's cookie changes nothing either.
	person.head("/m/" + token)
	person.head("/m/" + token + "/auth")
	if evs := e.events(id); len(evs) != 0 {
		t.Fatalf("HEAD recorded %+v", evs)
	}
	if st := person.waitStatus(token); st.Status != "complete" {
		t.Fatalf("%+v", st)
	}
	if evs := e.events(id); len(evs) != 1 || evs[0].Kind != vault.EventOpened {
		t.Fatalf("events %+v", evs)
	}
}

// An unknown, malformed or expired token gets the same status, headers and
// page shape as a valid one, after the same look-up.
func TestUnknownTokenLooksTheSame(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnv(t, envConfig{vaultClock: clock.Now, opts: func(o *Options) { o.Now = clock.Now }})
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	valid := b.get("/m/" + token)
	headerKeys := func(h http.Header) []string {
		var ks []string
		for k := range h {
			if k != "Date" && k != "Content-Length" {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		return ks
	}
	skeleton := regexp.MustCompile(`(?s)^<!doctype html>\n<html lang="sv">\n<head>.*</head>\n<body>\n<header class="top">.*</header>\n<main>\n<h1>.*</main>\n</body>\n</html>\n$`)
	if !skeleton.MatchString(valid.body) {
		t.Fatalf("valid page shape:\n%s", valid.body)
	}
	for _, bad := range []string{"AAAAAAAAAAAAAAAAAAAAAB", "not-a-token", "x", strings.Repeat("z", 200), "%2e%2e"} {
		r := b.get("/m/" + bad)
		if r.status != valid.status || !slices.Equal(headerKeys(r.header), headerKeys(valid.header)) {
			t.Errorf("%q: %d %v, valid: %d %v", bad, r.status, headerKeys(r.header), valid.status, headerKeys(valid.header))
		}
		if !skeleton.MatchString(r.body) || !strings.Contains(r.body, textsSV.InvalidTitle) {
			t.Errorf("%q page:\n%s", bad, r.body)
		}
		if r.header.Get("Content-Type") != valid.header.Get("Content-Type") || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%q headers %v", bad, r.header)
		}
	}
	// Expired: the same page as unknown.
	clock.Advance(vault.DefaultRetention + time.Hour)
	if _, err := e.v.Sweep(); err != nil {
		t.Fatal(err)
	}
	r := b.get("/m/" + token)
	if r.status != 200 || !strings.Contains(r.body, textsSV.InvalidTitle) || strings.Contains(r.body, outlookErrand) {
		t.Fatalf("expired token page:\n%s", r.body)
	}
	// A return nonce is told by its form before any session is looked at.
	if !wellFormedNonce(randomID(16)) || wellFormedNonce("short") || wellFormedNonce("AAAAAAAAAAAAAAAAAAAA+/") {
		t.Error("wellFormedNonce")
	}
}

// Each security header, on pages, JSON, downloads and static files.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	page := b.get("/m/" + token)
	start := b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}})
	poll := b.get("/m/"+token+"/auth", "Accept", "application/json")

	for name, r := range map[string]resp{"page": page, "start": start, "poll": poll, "404": b.get("/nowhere")} {
		h := r.header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
			"connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "http:") || strings.Contains(csp, "https:") || strings.Contains(csp, "*") {
			t.Errorf("%s: CSP %q allows too much", name, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", name, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS in dev", name)
		}
	}
	// The dev cookie: HttpOnly, SameSite=Strict, no Secure.
	sc := start.header.Get("Set-Cookie")
	if !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Secure") ||
		!strings.HasPrefix(sc, "sigill=") || !strings.Contains(sc, "Path=/") {
		t.Errorf("dev cookie %q", sc)
	}
	// No inline script; the one script and the style sheet are the page's own.
	if regexp.MustCompile(`<script(?:\s+(?:defer|type="[^"]*"))*\s*>`).MatchString(page.body) || strings.Contains(page.body, " style=") ||
		strings.Contains(page.body, "<style") || regexp.MustCompile(` on[a-z]+=`).MatchString(page.body) {
		t.Errorf("inline script or style in the page:\n%s", page.body)
	}
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page.body, -1) {
		if strings.Contains(m[1], "//") {
			t.Errorf("external reference %q", m[1])
		}
	}
	css := regexp.MustCompile(`href="(/static/app\.[0-9a-f]+\.css)"`).FindStringSubmatch(page.body)
	js := regexp.MustCompile(`src="(/static/app\.[0-9a-f]+\.js)"`).FindStringSubmatch(page.body)
	if css == nil || js == nil {
		t.Fatalf("assets not found in the page")
	}
	for _, p := range []string{css[1], js[1]} {
		r := b.get(p)
		if r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %v", p, r.status, r.header)
		}
		if strings.Contains(r.body, "http://") || strings.Contains(r.body, "https://") || strings.Contains(r.body, "@import") || strings.Contains(r.body, "url(") {
			t.Errorf("%s refers to something outside", p)
		}
	}

	// Serve mode: HSTS and a Secure __Host- cookie.
	se := newEnv(t, envConfig{opts: func(o *Options) { o.Secure = true }})
	_, token2 := se.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	sb := se.browser()
	r := sb.postForm("/m/"+token2+"/auth", url.Values{"device": {"other"}})
	if hsts := r.header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("serve: HSTS %q", hsts)
	}
	sc = r.header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "__Host-sigill=") || !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") ||
		!strings.Contains(sc, "SameSite=Strict") || strings.Contains(sc, "Domain=") {
		t.Errorf("serve cookie %q", sc)
	}
	if r := sb.get("/m/" + token2); r.header.Get("Strict-Transport-Security") == "" {
		t.Error("serve: no HSTS on the page")
	}
}

// POSTs from another site are refused by http.CrossOriginProtection and
// start nothing.
func TestCrossOriginPostRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	for _, hdr := range [][]string{
		{"Sec-Fetch-Site", "cross-site"},
		{"Origin", "https://evil.example"},
	} {
		for _, path := range []string{"/auth", "/cancel", "/logout"} {
			r := b.postForm("/m/"+token+path, url.Values{"device": {"same"}}, hdr...)
			if r.status != http.StatusForbidden || r.header.Get("Set-Cookie") != "" {
				t.Errorf("%s with %v: %d", path, hdr, r.status)
			}
		}
	}
	e.rw.mu.Lock()
	n := len(e.rw.sessions)
	e.rw.mu.Unlock()
	if n != 0 {
		t.Fatal("a cross-origin POST made a session")
	}
	// The same site's own POST works.
	if r := b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Fatalf("same-origin POST: %d", r.status)
	}
}

// newLimitedEnv is an env with the production rate limits on clock, whose
// requests name their client in X-Forwarded-For.
func newLimitedEnv(t *testing.T, clock *testenv.Clock) *env {
	return newEnv(t, envConfig{realLimits: true, opts: func(o *Options) {
		o.Now = clock.Now
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
}

// The rate limits, on the server's clock: per IP, per token, and for
// starting orders.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newLimitedEnv(t, clock)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	_, token2 := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	b := e.browser()
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }

	// Per token and client: 30 at once, then 429 for that client; another
	// client on the token, and another token from the client, are fine.
	for i := range 30 {
		if r := b.get("/m/"+token, from("198.51.100.1")...); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := b.get("/m/"+token, from("198.51.100.1")...)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("31st request for one token from one client: %d %v", r.status, r.header)
	}
	if r := b.get("/m/"+token, from("198.51.100.2")...); r.status != 200 {
		t.Fatalf("another client on the token: %d", r.status)
	}
	if r := b.get("/m/"+token2, from("198.51.100.1")...); r.status != 200 {
		t.Fatalf("another token: %d", r.status)
	}
	clock.Advance(time.Second) // 5 more
	if r := b.get("/m/"+token, from("198.51.100.1")...); r.status != 200 {
		t.Fatalf("after a second: %d", r.status)
	}
	// Per token in all: 300 at once, over ten clients, then 429 for anyone.
	_, token3 := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA, pnB))
	for c := range 10 {
		for i := range 30 {
			if r := b.get("/m/"+token3, from(fmt.Sprintf("198.51.100.%d", 10+c))...); r.status != 200 {
				t.Fatalf("client %d, request %d: %d", c, i, r.status)
			}
		}
	}
	if r := b.get("/m/"+token3, from("198.51.100.99")...); r.status != http.StatusTooManyRequests {
		t.Fatalf("the 301st request for one token: %d", r.status)
	}

	// Per IP: 100 at once (over many tokens), then 429; another IP is fine.
	for i := range 100 {
		r := b.get(fmt.Sprintf("/m/unknown%03d", i), from("203.0.113.9")...)
		if r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	if r := b.get("/m/unknown-x", from("203.0.113.9")...); r.status != http.StatusTooManyRequests {
		t.Fatalf("101st request from one IP: %d", r.status)
	}
	if r := b.get("/m/unknown-x", from("203.0.113.10")...); r.status != 200 {
		t.Fatalf("another IP: %d", r.status)
	}
	// IPv6 counts by /64.
	for range 100 {
		b.get("/m/unknown-y", from("2001:db8:1:2::1")...)
	}
	if r := b.get("/m/unknown-y", from("2001:db8:1:2:ffff::9")...); r.status != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", r.status)
	}

	// Orders per token and client: 5 at once, then 429 (also as JSON) for
	// that client; another client still starts one.
	clock.Advance(time.Hour)
	order := func(tk, ip string) resp {
		return e.browser().postForm("/m/"+tk+"/auth", url.Values{"device": {"other"}}, "X-Forwarded-For", ip, "Accept", "application/json")
	}
	for i := range 5 {
		if r := order(token2, "192.0.2.1"); r.status != http.StatusOK {
			t.Fatalf("order %d: %d", i, r.status)
		}
	}
	r = order(token2, "192.0.2.1")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, `"error":"too_many_requests"`) {
		t.Fatalf("6th order for one token from one client: %d %s", r.status, r.body)
	}
	if r := order(token2, "192.0.2.2"); r.status != http.StatusOK {
		t.Fatalf("another client's order: %d %s", r.status, r.body)
	}
	// Orders per token in all: 20 at once, over four clients, then 429.
	for c := range 4 {
		for i := range 5 {
			if r := order(token3, fmt.Sprintf("192.0.2.%d", 10+c)); r.status != http.StatusOK {
				t.Fatalf("client %d, order %d: %d", c, i, r.status)
			}
		}
	}
	if r := order(token3, "192.0.2.50"); r.status != http.StatusTooManyRequests {
		t.Fatalf("the 21st order for one token: %d %s", r.status, r.body)
	}

	// Orders per IP: 20 at once over many tokens, then 429.
	clock.Advance(time.Hour)
	var tokens []string
	for range 21 {
		_, tk := e.accept("x", sample(t, "outlook-windows-1252.eml"), recipient(pnA, pnB))
		tokens = append(tokens, tk)
	}
	for i := range 20 {
		if r := e.browser().postForm("/m/"+tokens[i]+"/auth", url.Values{"device": {"other"}}, from("192.0.2.200")...); r.status != http.StatusSeeOther {
			t.Fatalf("order %d from one IP: %d", i, r.status)
		}
	}
	if r := e.browser().postForm("/m/"+tokens[20]+"/auth", url.Values{"device": {"other"}}, from("192.0.2.200")...); r.status != http.StatusTooManyRequests {
		t.Fatalf("21st order from one IP: %d", r.status)
	}
}

// Buckets are forgotten once idle long enough to be full again, and their
// number is capped.
func TestLimiterEviction(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiterSet(1, 5, 100)
	for i := range 50 {
		l.allow(fmt.Sprint(i), now, 1)
	}
	l.sweep(now.Add(4 * time.Second))
	if l.len() != 50 {
		t.Fatalf("%d buckets after 4 s, want 50", l.len())
	}
	l.sweep(now.Add(5 * time.Second))
	if l.len() != 0 {
		t.Fatalf("%d buckets after 5 s idle, want 0", l.len())
	}
	// A drained bucket is kept while it matters.
	for range 5 {
		l.allow("busy", now, 1)
	}
	if l.allow("busy", now, 1) {
		t.Fatal("6th of burst 5 allowed")
	}
	l.sweep(now.Add(time.Second))
	if l.allow("busy", now.Add(time.Second), 2) {
		t.Fatal("a drained bucket was forgotten too early")
	}
	// The cap holds under a flood of new keys.
	for i := range 1000 {
		l.allow(fmt.Sprint("flood", i), now, 1)
	}
	if l.len() > 100 {
		t.Fatalf("%d buckets, cap 100", l.len())
	}
}

// endUserIp and the rate-limit key: X-Forwarded-For only from a trusted
// proxy, and then the right-most address that is not a trusted proxy.
func TestClientIP(t *testing.T) {
	s := &Server{opt: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	for _, c := range []struct {
		remote, xff, want string
	}{
		{"192.0.2.1:5000", "", "192.0.2.1"},
		{"192.0.2.1:5000", "203.0.113.5", "192.0.2.1"}, // untrusted peer: header ignored
		{"10.1.2.3:5000", "203.0.113.5", "203.0.113.5"},
		{"10.1.2.3:5000", "198.51.100.7, 203.0.113.5, 10.9.9.9", "203.0.113.5"},
		{"10.1.2.3:5000", "garbage, 203.0.113.5", "203.0.113.5"},
		{"10.1.2.3:5000", "203.0.113.5, garbage", "10.1.2.3"},
		{"10.1.2.3:5000", "", "10.1.2.3"},
		{"[::1]:5000", "2001:db8::5", "2001:db8::5"},
		{"[::ffff:192.0.2.1]:5000", "", "192.0.2.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientIP(r).String(); got != c.want {
			t.Errorf("%s + %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

// The endUserIp BankID gets is the client's, through the trusted proxy.
func TestEndUserIPThroughProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{opts: func(o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	id, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "X-Forwarded-For", "203.0.113.77")
	st, _ := b.poll(token)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnC}); err == nil {
		t.Fatal("the requirement let another person in")
	}
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: st.QR, PersonalNumber: pnA}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(func(o *order) bool { return o.status == "complete" })
	b.get("/m/"+token, "X-Forwarded-For", "203.0.113.78")
	evs := e.events(id)
	if len(evs) != 1 || evs[0].IP != "203.0.113.78" {
		t.Fatalf("events %+v", evs)
	}
	e.rw.mu.Lock()
	defer e.rw.mu.Unlock()
	for _, ss := range e.rw.sessions {
		if ss.order != nil {
			t.Fatal("the claimed session still holds the order")
		}
	}
}

// Swedish and English by lang, switchable on the page.
func TestLanguages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	en := recipient(pnA)
	en.Lang = "en"
	_, tEN := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), en)
	_, tSV := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	b := e.browser()
	for _, c := range []struct{ path, lang, button, sw string }{
		{"/m/" + tSV, "sv", "BankID på den här enheten", `href="/m/` + tSV + `?lang=en" hreflang="en" lang="en">English`},
		{"/m/" + tEN, "en", "BankID on this device", `href="/m/` + tEN + `?lang=sv" hreflang="sv" lang="sv">Svenska`},
		{"/m/" + tSV + "?lang=en", "en", "BankID on this device", ">Svenska<"},
		{"/m/" + tEN + "?lang=sv", "sv", "BankID på den här enheten", ">English<"},
		{"/m/unknown?lang=en", "en", "This link cannot be opened", ">Svenska<"},
	} {
		r := b.get(c.path)
		if !strings.Contains(r.body, `<html lang="`+c.lang+`">`) || !strings.Contains(r.body, c.button) || !strings.Contains(r.body, c.sw) {
			t.Errorf("%s:\n%s", c.path, r.body)
		}
	}
	// The chosen language goes with the order.
	r := b.postForm("/m/"+tSV+"/auth?lang=en", url.Values{"device": {"other"}})
	if r.header.Get("Location") != "/m/"+tSV+"?lang=en" {
		t.Fatalf("redirect %q", r.header.Get("Location"))
	}
	r = b.get("/m/"+tSV+"/auth?lang=en", "Accept", "application/json")
	if !strings.Contains(r.body, bankid.RFA1.Text("en")) {
		t.Fatalf("English poll %s", r.body)
	}
}

// Labels, headings and landmarks for screen readers, and a mobile viewport.
func TestAccessibleMarkup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	page := e.browser().get("/m/" + token).body
	for _, want := range []string{
		`<meta name="viewport" content="width=device-width,initial-scale=1">`,
		`<main>`, `<h1>` + outlookErrand + `</h1>`, `<nav aria-label="Språk">`,
		`role="status" aria-live="polite"`, `role="alert"`, `aria-label="QR-kod att skanna med BankID-appen"`,
		`<section id="start" aria-labelledby="start-h">`, `<h2 id="start-h">`,
		`<button class="btn" type="submit">BankID på den här enheten</button>`,
		`<button class="btn alt" type="submit">BankID på en annan enhet</button>`,
		`<time datetime="`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Buttons come in reading order: this device, then another device.
	if strings.Index(page, "den här enheten") > strings.Index(page, "en annan enhet") {
		t.Error("focus order")
	}
}

// A link's limits count per client: someone holding a forwarded link who
// spends every request and order the link allows them does not spend the
// recipient's, who still starts an order, replaces the holder's, and reads.
func TestLinkHolderCannotSpendTheRecipientsLimits(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newLimitedEnv(t, clock)
	_, token := e.accept(outlookErrand, sample(t, "outlook-html-inline-image.eml"), recipient(pnA))
	holder, reader := e.browser(), e.browser()
	const holderIP, readerIP = "198.51.100.66", "203.0.113.5"
	start := func(b *browser, ip string) resp {
		return b.postForm("/m/"+token+"/auth", url.Values{"device": {"other"}}, "X-Forwarded-For", ip, "Accept", "application/json")
	}
	for start(holder, holderIP).status == http.StatusOK {
	}
	for holder.get("/m/"+token, "X-Forwarded-For", holderIP).status == http.StatusOK {
	}

	if r := reader.get("/m/"+token, "X-Forwarded-For", readerIP); r.status != http.StatusOK {
		t.Fatalf("the recipient's page: %d", r.status)
	}
	r := start(reader, readerIP)
	if r.status != http.StatusOK {
		t.Fatalf("the recipient's start: %d %s", r.status, r.body)
	}
	var a authStart
	mustJSON(t, r.body, &a)
	if _, err := e.sim.Approve(bankidsim.PhoneRequest{QR: a.QR, PersonalNumber: pnA}); err != nil {
		t.Fatalf("the recipient approves: %v", err)
	}
	e.waitOrder(func(o *order) bool { return o.status == "complete" })
	if r := reader.get("/m/"+token+"/message.json", "X-Forwarded-For", readerIP); r.status != http.StatusOK || !strings.Contains(r.body, "Ditt provsvar är klart") {
		t.Fatalf("message.json: %d %s", r.status, r.body)
	}
}
