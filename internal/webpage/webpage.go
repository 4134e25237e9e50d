// Package webpage is what sigill's server-rendered web rooms (readerweb,
// staffweb) share, said once: the security headers every page carries,
// static files served under a name that carries their content's hash, and
// the reading of a language tag.
package webpage

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// SecurityHeaders sets the headers every response of a page's listener
// carries: csp, no sniffing, no referrer, no framing, no opener, no
// camera, microphone or location, HSTS over HTTPS (hsts), and no-store
// for everything but the hashed static files and the favicon, since
// pages may show what only the signed-in person may see.
func SecurityHeaders(next http.Handler, csp string, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") && r.URL.Path != "/favicon.ico" {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// Assets are embedded static files, each served at /static/ under a name
// that carries a hash of its content (app.<hash>.css), so it can be
// cached for a year.
type Assets struct {
	byName map[string]*asset
	urls   map[string]string // file → URL path
}

type asset struct {
	contentType string
	body        []byte
}

// NewAssets reads files (path in fsys → content type) from fsys.
func NewAssets(fsys fs.FS, files map[string]string) (*Assets, error) {
	a := &Assets{byName: map[string]*asset{}, urls: map[string]string{}}
	for file, contentType := range files {
		body, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("webpage: %w", err)
		}
		sum := sha256.Sum256(body)
		base := path.Base(file)
		ext := path.Ext(base)
		name := strings.TrimSuffix(base, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a.byName[name] = &asset{contentType: contentType, body: body}
		a.urls[file] = "/static/" + name
	}
	return a, nil
}

// URL is the path a page links file by.
func (a *Assets) URL(file string) string { return a.urls[file] }

// ServeHTTP serves GET /static/{name}.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := a.byName[r.PathValue("name")]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if r.Method == http.MethodHead {
		return
	}
	w.Write(f.body)
}

// NormLang reduces a language tag to "sv", "en" or "".
func NormLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	switch {
	case lang == "sv" || strings.HasPrefix(lang, "sv-"):
		return "sv"
	case lang == "en" || strings.HasPrefix(lang, "en-"):
		return "en"
	}
	return ""
}
