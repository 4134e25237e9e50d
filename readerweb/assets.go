package readerweb

import (
	"embed"
	"html/template"

	"sigill/internal/webpage"
)

//go:embed templates/page.html
var templateFS embed.FS

//go:embed static/app.css static/app.js
var staticFS embed.FS

// loadAssets are the page's CSS and script, served by content hash.
func loadAssets() (*webpage.Assets, error) {
	return webpage.NewAssets(staticFS, map[string]string{
		"static/app.css": "text/css; charset=utf-8",
		"static/app.js":  "text/javascript; charset=utf-8",
	})
}

func parseTemplates() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/page.html")
}
