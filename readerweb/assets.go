package readerweb

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed templates/page.html
var templateFS embed.FS

//go:embed static/app.css static/app.js
var staticFS embed.FS

// asset is one embedded static file, served under a name that carries a hash
// of its content, so it can be cached for a year.
type asset struct {
	name        string // app.<hash>.css
	contentType string
	body        []byte
}

type assets struct {
	byName  map[string]*asset
	css, js string // URL paths
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]*asset{}}
	for _, f := range []struct {
		file, contentType string
		into              *string
	}{
		{"static/app.css", "text/css; charset=utf-8", &a.css},
		{"static/app.js", "text/javascript; charset=utf-8", &a.js},
	} {
		body, err := staticFS.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		base := path.Base(f.file)
		ext := path.Ext(base)
		name := strings.TrimSuffix(base, ext) + "." + hex.EncodeToString(sum[:6]) + ext
		a.byName[name] = &asset{name: name, contentType: f.contentType, body: body}
		*f.into = "/static/" + name
	}
	return a, nil
}

func (a *assets) serve(w http.ResponseWriter, r *http.Request) {
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

func parseTemplates() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/page.html")
}
