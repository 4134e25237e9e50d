package webpage

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"testing/fstest"
)

// TestAssets: a file is served under its content's hash, cacheable for a
// year, with its type; another name is 404; pages are no-store, static
// files not.
func TestAssets(t *testing.T) {
	a, err := NewAssets(fstest.MapFS{"static/app.css": {Data: []byte("body{}")}}, map[string]string{"static/app.css": "text/css; charset=utf-8"})
	if err != nil {
		t.Fatal(err)
	}
	url := a.URL("static/app.css")
	if !regexp.MustCompile(`^/static/app\.[0-9a-f]{12}\.css$`).MatchString(url) {
		t.Fatalf("URL %q", url)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/{name}", a)
	mux.HandleFunc("/", func(http.ResponseWriter, *http.Request) {})
	h := SecurityHeaders(mux, "default-src 'none'", true)
	for path, want := range map[string]struct {
		status int
		cache  string
	}{
		url:               {200, "public, max-age=31536000, immutable"},
		"/static/app.css": {404, ""},
		"/page":           {200, "no-store"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want.status || (want.cache != "" && rec.Header().Get("Cache-Control") != want.cache) {
			t.Errorf("GET %s: %d, Cache-Control %q; want %d %q", path, rec.Code, rec.Header().Get("Cache-Control"), want.status, want.cache)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("Strict-Transport-Security") == "" {
			t.Errorf("GET %s: no CSP or HSTS", path)
		}
	}
}

func TestNormLang(t *testing.T) {
	for in, want := range map[string]string{"sv": "sv", "SV-se": "sv", " en ": "en", "en-GB": "en", "de": "", "": "", "svenska": ""} {
		if got := NormLang(in); got != want {
			t.Errorf("NormLang(%q) = %q, want %q", in, got, want)
		}
	}
}
