package staffweb

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"sigill/internal/webpage"
)

//go:embed templates/*.html templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is what every template gets: the layout's parts and the page's own
// Data.
type page struct {
	T       texts
	Org     string
	CSS     string
	Self    string // the path of this page's GET, for the language link (selfPath)
	Session *Session
	Nav     []navLink
	Notice  string // a line shown once above the page (a flash), in T's language
	Data    any

	loc *time.Location
}

// Date writes tm in Swedish local time in the page's language.
func (p page) Date(tm time.Time) string { return p.T.date(tm, p.loc) }

// ISO writes tm for a <time datetime>.
func (p page) ISO(tm time.Time) string { return tm.In(p.loc).Format(time.RFC3339) }

type navLink struct {
	Path, Label string
	Current     bool
}

// nav is the menu: the send helper's pages, the account, and for
// administrators the staff accounts. A slot is shown once its page has a
// route.
var nav = []struct {
	path, key string
	admin     bool
}{
	{"/send", "NavSend", false},
	{"/messages", "NavSent", false},
	{"/account", "NavAccount", false},
	{"/admin/accounts", "NavAccounts", true},
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	// fieldOf hands the "fielderror" template a form's faults and one
	// field's name.
	"fieldOf": func(errs map[string]string, name string) fieldRef { return fieldRef{errs, name} },
}

type fieldRef struct {
	Errors map[string]string
	Name   string
}

// parsePages reads templates/layout.html and, for every other
// templates/NAME.html, a page NAME: the layout with that file's "title"
// and "content".
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Option("missingkey=error").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("staffweb: template %s: %w", f, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// pagePaths are the GET routes of the pages a POST may show again (a
// refused form, a secret shown once), by page name: a page's language link
// must lead to a GET, and a POST's own path has none. A file that adds
// such a page adds its path here, from init. A page missing here links to
// the start page.
var pagePaths = map[string]string{
	"login":    "/login",
	"login2fa": "/login/2fa",
	"account":  "/account",
	"admin":    "/admin/accounts",
	"home":     "/",
	"send":     "/send",
	"messages": "/messages",
}

// selfPath is the path page name's language link leads to: r's own for a
// GET, else the page's GET route. A message's page is its id's; the
// enrolment page and a shown secret
// belong to the enrolment at sign-in or to the account page, by the
// session's stage.
func selfPath(r *http.Request, sess *Session, name string) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.Path
	}
	if name == "enrol" || name == "secret" {
		if sess != nil && sess.Stage == StageEnrol {
			return "/login/enrol"
		}
		return "/account"
	}
	if name == "message" && r.PathValue("id") != "" {
		return "/messages/" + url.PathEscape(r.PathValue("id"))
	}
	if p, ok := pagePaths[name]; ok {
		return p
	}
	return "/"
}

// render writes page name with data. sess is nil on the pages before
// sign-in. A flash notice waiting in the session is shown, and taken.
func (s *Server) render(w http.ResponseWriter, r *http.Request, sess *Session, status int, name string, data any) {
	t := textsFor(r, s.opt.DefaultLang)
	p := page{T: t, Org: s.opt.OrgName, CSS: s.assets.URL("static/staff.css"), Self: selfPath(r, sess, name), Session: sess, Data: data, loc: s.stockholm}
	if sess != nil {
		if sess.Stage == StageIn {
			for _, n := range nav {
				if s.served[n.path] && (!n.admin || sess.Account.Admin) {
					p.Nav = append(p.Nav, navLink{Path: n.path, Label: t[n.key], Current: strings.HasPrefix(r.URL.Path, n.path)})
				}
			}
		}
		if sess.notice != "" {
			p.Notice = t[sess.notice]
			s.takeNotice(r, sess)
		}
	}
	tmpl := s.pages[name]
	if tmpl == nil {
		s.opt.Logger.Error("staffweb: no such page", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.opt.Logger.Error("staffweb: rendering", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fragment renders a part of a page (a templates/*.tmpl definition) in
// r's language, for a page's template.HTML slot.
func (s *Server) fragment(r *http.Request, name string, data any) (template.HTML, error) {
	var buf bytes.Buffer
	err := s.fragments.ExecuteTemplate(&buf, name, page{T: textsFor(r, s.opt.DefaultLang), Data: data, loc: s.stockholm})
	if err != nil {
		return "", fmt.Errorf("staffweb: fragment %s: %w", name, err)
	}
	return template.HTML(buf.String()), nil // html/template's escaped output
}

// parseFragments reads templates/*.tmpl: parts of pages, not pages.
func parseFragments() (*template.Template, error) {
	return template.New("fragments").Option("missingkey=error").Funcs(funcs).ParseFS(templateFS, "templates/*.tmpl")
}

// problem is a page with a heading and a line, signed in or not.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, titleKey, textKey string) {
	t := textsFor(r, s.opt.DefaultLang)
	s.render(w, r, nil, status, "problem", struct{ Heading, Text string }{t[titleKey], t[textKey]})
}

// fail answers a fault of the store or another room: logged, and the
// user told to try again.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.opt.Logger.Error("staffweb: "+what, "err", err)
	s.problem(w, r, http.StatusInternalServerError, "ErrorTitle", "ErrorText")
}

// loadAssets is the pages' style sheet and the passkey ceremonies'
// script, served by content hash (the CSP allows only our own files).
func loadAssets() (*webpage.Assets, error) {
	return webpage.NewAssets(staticFS, map[string]string{
		"static/staff.css":  "text/css; charset=utf-8",
		"static/passkey.js": "text/javascript; charset=utf-8",
	})
}
