package staffweb

import (
	"cmp"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	_ "time/tzdata" // the pages show Swedish time whatever the host's zone files

	"sigill/apikey"
	"sigill/audit"
	"sigill/internal/authgate"
	"sigill/internal/webpage"
	"sigill/passkey"
	"sigill/receipts/mailbox"
	"sigill/staffauth"
	"sigill/vault"
)

// Options is what the staff web needs from the configuration and the other
// packages.
type Options struct {
	Vault *vault.Vault   // opened with Hook() among its hooks
	Keys  *apikey.Store  // the REST API's keys, for the account page
	Gate  *authgate.Gate // the one SMTP submission and IMAP use
	// OrgName heads every page; DefaultLang ("sv" or "en") is the pages'
	// language until the user picks the other.
	OrgName     string
	DefaultLang string
	// Require2FA (staff.require_2fa): an account without a second factor
	// enrols TOTP right after its password, before anything else.
	Require2FA bool
	// SessionIdle ends a session this long after its last request;
	// SessionMax this long after sign-in, however busy. Zero: the defaults.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Secure: served over HTTPS, so the cookie is Secure with the __Host-
	// prefix and pages send HSTS. False only in dev on loopback.
	Secure bool
	// Passkeys, when set, adds passkeys (WebAuthn) to the sign-in, enrolment
	// and account pages (passkeys.go). The vault must be opened with
	// passkey.Hook() among its hooks.
	Passkeys *passkey.Service
	// PasskeyBegins limits how often one client address may begin a
	// passkey sign-in (POST /login/passkey/begin, which needs no sign-in
	// and stores a ceremony each time); zero fields: DefaultPasskeyBegins.
	PasskeyBegins authgate.Limits
	// Audit, when set, records sign-ins and their failures, second-factor,
	// app password, API key and account changes (package audit).
	Audit *audit.Store
	// Sending is what the send form needs (send.go): the rules SMTP's RCPT
	// and DATA apply.
	Sending Sending
	// Replies, when set, shows the recipients' answers on a message's
	// page (the receipts mailboxes keep them).
	Replies *mailbox.Store
	Logger  *slog.Logger
	// Now is the clock of sessions; the vault's own clock rules codes.
	Now func() time.Time
}

const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// DefaultPasskeyBegins: 30 passkey sign-ins begun at once from one address
// (an office behind one NAT at nine o'clock), then one more every two
// seconds.
var DefaultPasskeyBegins = authgate.Limits{Burst: 30, Window: 2 * time.Second}

// Server is the staff web. Make one with New.
type Server struct {
	opt       Options
	auth      staffauth.Checker
	pages     map[string]*template.Template
	fragments *template.Template
	assets    *webpage.Assets
	stockholm *time.Location
	served    map[string]bool // paths with a route, for the nav
	// begins counts passkey sign-ins begun per client address: a gate of
	// its own, so that they do not drain the password tries.
	begins *authgate.Gate
}

// mounts are the routes the package's other files add in their init
// functions (the send helper's send.go, sentlog.go, message.go), so that
// neither helper edits the other's files.
var mounts []func(s *Server, mux *http.ServeMux)

// mount adds a file's routes; call it from init.
func mount(f func(s *Server, mux *http.ServeMux)) { mounts = append(mounts, f) }

// New makes the staff web; Options.Vault must be opened with Hook.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.SessionMax <= 0 {
		o.SessionMax = DefaultSessionMax
	}
	if normLang(o.DefaultLang) == "" {
		o.DefaultLang = "sv"
	}
	if o.Gate == nil {
		o.Gate = authgate.New(authgate.Limits{})
	}
	begins := authgate.New(cmp.Or(o.PasskeyBegins, DefaultPasskeyBegins))
	begins.Delay = 0
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	fragments, err := parseFragments()
	if err != nil {
		return nil, err
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	return &Server{
		opt:       o,
		auth:      staffauth.Checker{Vault: o.Vault, Gate: o.Gate},
		pages:     pages,
		fragments: fragments,
		assets:    a,
		stockholm: loc,
		served:    map[string]bool{},
		begins:    begins,
	}, nil
}

// Handler serves the staff web; mount it at "/" on the staff listener,
// with the REST API at /api/v1/ beside it.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux, "GET /static/{name}", s.assets)
	s.handle(mux, "GET /favicon.ico", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	s.handle(mux, "GET /{$}", s.SignedIn(s.home))
	s.signInRoutes(mux)
	s.accountRoutes(mux)
	s.adminRoutes(mux)
	for _, m := range mounts {
		m(s, mux)
	}
	if s.opt.Passkeys != nil {
		s.passkeyRoutes(mux)
	}
	s.handle(mux, "/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "NotFoundTitle", "NotFoundText")
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusForbidden, "CrossSiteTitle", "CrossSiteText")
	}))
	return s.headers(cop.Handler(mux))
}

// handle registers h and notes its path, so the nav shows only pages
// that exist.
func (s *Server) handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, h)
	path := pattern
	if i := strings.IndexByte(path, ' '); i >= 0 {
		path = path[i+1:]
	}
	s.served[path] = true
}

// csp is the reader page's: the pages' own style sheet (and script, for
// the passkey ceremonies), images inline (the TOTP QR code is SVG
// markup), nothing inline or from elsewhere.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers every response carries (the reader
// page's), and keeps a language asked for with ?lang= in a cookie.
func (s *Server) headers(next http.Handler) http.Handler {
	return webpage.SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lang := normLang(r.URL.Query().Get("lang")); lang != "" {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: s.opt.Secure, SameSite: http.SameSiteLaxMode})
		}
		next.ServeHTTP(w, r)
	}), csp, s.opt.Secure)
}

// clientIP is the peer's address: the staff listener is on the internal
// network, with no proxy in front that this package would trust.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return ap.Addr().Unmap().WithZone("")
}

// home is the first page after sign-in.
func (s *Server) home(w http.ResponseWriter, r *http.Request, sess *Session) {
	s.render(w, r, sess, http.StatusOK, "home", nil)
}

// seeOther ends a POST: 303 to path (POST → redirect → GET).
func seeOther(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}
