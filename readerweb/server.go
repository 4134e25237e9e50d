package readerweb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // the page shows Swedish time whatever the host's zone files

	"sigill/bankid"
	"sigill/internal/webpage"
	"sigill/receipts/mailbox"
	"sigill/vault"
)

// Options configure New.
type Options struct {
	Vault *vault.Vault
	// Replies takes the recipient's answers from the page (reply.go); nil:
	// the page offers none.
	Replies *mailbox.Store
	// MaxReplyBytes is smtp.max_message_bytes: the most a reply with its
	// files may be, named on the page and in the 413.
	MaxReplyBytes   int64
	BankID          *bankid.Client
	OrgName         string
	DefaultLang     string         // "sv" (default) or "en": pages with no letter to take it from
	UserVisibleText string         // bankid.user_visible_text: what the BankID app shows
	SessionTTL      time.Duration  // reader.session_ttl; default 15 minutes
	TrustedProxies  []netip.Prefix // reader.trusted_proxies: peers whose X-Forwarded-For is believed
	// Secure is false only in dev on loopback: cookies without Secure (and
	// without the __Host- prefix), no HSTS.
	Secure bool
	Logger *slog.Logger
	Now    func() time.Time

	// Test seams, zero in production.
	collectEvery  time.Duration // default 2 s
	takeoverEvery time.Duration // default takeoverEvery
	limits        *limits       // default defaultLimits()
}

// DefaultSessionTTL is Options.SessionTTL when it is zero.
const DefaultSessionTTL = 15 * time.Minute

// DefaultMaxReplyBytes is Options.MaxReplyBytes when it is zero:
// smtp.max_message_bytes' default, 25 MiB.
const DefaultMaxReplyBytes = 25 << 20

const (
	collectEvery = 2 * time.Second  // BankID: collect every 2 s while pending
	callTimeout  = 10 * time.Second // one /auth, /collect or /cancel
	janitorEvery = 30 * time.Second
	// storedSweepEvery: every this many janitor rounds (5 min) the stored
	// sessions past their expiry are deleted (a scan of the table).
	storedSweepEvery = 10
	maxOrders        = 10_000
	maxSessions      = 100_000
	maxCollectErrs   = 3
)

// Server is the reader's web side. It is safe for concurrent use.
type Server struct {
	opt     Options
	log     *slog.Logger
	now     func() time.Time
	loc     *time.Location
	tmpl    *template.Template
	assets  *webpage.Assets
	limits  *limits
	handler http.Handler

	collectEvery  time.Duration
	takeoverEvery time.Duration
	maxOrders     int

	sweeps atomic.Int64 // janitor rounds, for sweepStored

	mu       sync.Mutex
	sessions map[string]*session // by session id
	active   int                 // orders whose collector runs
	closed   bool
	// collectors are the orders this node collects, by their session's
	// key (sessionKey); starting the starts of orders that name a person
	// under way here, by personal number: BankID allows a person one open
	// order, so a new one first makes way (see startOrder).
	collectors map[string]*order
	starting   map[string]chan struct{}
	// node names this server in reader_orders (the collector of an order).
	node string
	// halted: stopped as a node that dies is (a test seam): its orders are
	// neither cancelled nor written, and another node takes them over.
	halted atomic.Bool

	ctx  context.Context // ends at Close: stops the collectors and the janitor
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New makes the reader's server and starts its janitor (expired sessions,
// idle rate-limit buckets) and its order watch (orders to take over).
// Close stops them.
func New(o Options) (*Server, error) {
	if o.Vault == nil {
		return nil, errors.New("readerweb: Options.Vault is required")
	}
	if o.BankID == nil {
		return nil, errors.New("readerweb: Options.BankID is required")
	}
	if !o.Vault.HasHook(HookName) {
		return nil, errNoHook
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.MaxReplyBytes <= 0 {
		o.MaxReplyBytes = DefaultMaxReplyBytes
	}
	if normLang(o.DefaultLang) == "" {
		o.DefaultLang = "sv"
	}
	o.DefaultLang = normLang(o.DefaultLang)
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	as, err := loadAssets()
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		loc = time.UTC
	}
	if o.collectEvery <= 0 {
		o.collectEvery = collectEvery
	}
	if o.takeoverEvery <= 0 {
		o.takeoverEvery = takeoverEvery
	}
	if o.limits == nil {
		o.limits = defaultLimits()
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		opt:           o,
		log:           log.With("component", "readerweb"),
		now:           o.Now,
		loc:           loc,
		tmpl:          tmpl,
		assets:        as,
		limits:        o.limits,
		collectEvery:  o.collectEvery,
		maxOrders:     maxOrders,
		sessions:      make(map[string]*session),
		collectors:    make(map[string]*order),
		node:          randomID(12),
		takeoverEvery: o.takeoverEvery,
		starting:      make(map[string]chan struct{}),
		ctx:           ctx,
		stop:          stop,
	}
	s.handler = s.routes()
	s.wg.Add(2)
	// The janitor ends sessions past their TTL (cancelling their orders)
	// and forgets idle rate-limit buckets; the order watch takes over the
	// orders of nodes that stopped collecting them (orderstore.go).
	go s.every(janitorEvery, s.sweep)
	go s.every(s.takeoverEvery, s.takeOver)
	return s, nil
}

// Handler serves /m/…, /r/… and /static/…, and a plain 404 page for any other
// path: mount it at "/" beside /dev/ and /hooks/.
func (s *Server) Handler() http.Handler { return s.handler }

// Close cancels every open BankID order at BankID, stops the collectors and
// the janitor, and forgets every session. It waits for the cancellations
// (each bounded by a timeout).
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.sessions = make(map[string]*session)
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /m/{token}", s.servePage)
	mux.HandleFunc("POST /m/{token}/auth", s.serveStart)
	mux.HandleFunc("GET /m/{token}/auth", s.servePoll)
	mux.HandleFunc("GET /m/{token}/qr.svg", s.serveQR)
	mux.HandleFunc("POST /m/{token}/cancel", s.serveCancel)
	mux.HandleFunc("POST /m/{token}/logout", s.serveLogout)
	mux.HandleFunc("GET /m/{token}/message.json", s.serveMessageJSON)
	mux.HandleFunc("POST /m/{token}/reply", s.serveReply)
	mux.HandleFunc("GET /m/{token}/cid/{n}", s.servePart(true))
	mux.HandleFunc("GET /m/{token}/att/{n}", s.servePart(false))
	mux.HandleFunc("GET /r/{nonce}", s.serveReturn)
	mux.Handle("GET /static/{name}", s.assets)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		// No icon, and no 404 for every page view.
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t := textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang)
		s.plain(w, r, http.StatusNotFound, t, t.NotFoundTitle, t.NotFoundText)
	})

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang)
		if wantsJSON(r) {
			writeJSON(w, http.StatusForbidden, apiError{Error: "cross_origin", Message: t.ErrorText})
			return
		}
		s.plain(w, r, http.StatusForbidden, t, t.ErrorTitle, t.ErrorText)
	}))
	return countRequests(s.headers(s.rateLimit(cop.Handler(mux))))
}

// csp allows the page's own script, style sheet, images and fetches, and
// nothing inline or from elsewhere. The QR code is inline SVG markup, which
// is neither script nor style.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers every response carries.
func (s *Server) headers(next http.Handler) http.Handler {
	return webpage.SecurityHeaders(next, csp, s.opt.Secure)
}

// rateLimit applies the per-IP and per-token request limits. A message's
// inline images and attachments fetched by a browser that has opened it with
// BankID count against the per-IP limit only: a newsletter-like mail with
// forty images would otherwise exhaust the link's budget on one page view.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := s.now()
		client := ipKey(s.clientIP(r))
		ok := s.limits.ip.allow(client, now, 1)
		if ok {
			if tok, found := tokenInPath(r.URL.Path); found && !s.grantedPart(r, tok) {
				ok = s.limits.allowLink(tokenKey(tok), client, now, false)
			}
		}
		if !ok {
			s.tooMany(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// grantedPart tells whether r fetches a part (/cid/ or /att/) of tok's
// message in a session that holds a grant for it.
func (s *Server) grantedPart(r *http.Request, tok string) bool {
	if !strings.HasPrefix(r.URL.Path, "/m/"+tok+"/cid/") && !strings.HasPrefix(r.URL.Path, "/m/"+tok+"/att/") {
		return false
	}
	return s.standingOf(r, tokenKey(tok)).kind == "granted"
}

func (s *Server) tooMany(w http.ResponseWriter, r *http.Request) {
	t := textsFor(r.URL.Query().Get("lang"), s.opt.DefaultLang)
	w.Header().Set("Retry-After", "10")
	if wantsJSON(r) || strings.HasSuffix(r.URL.Path, ".json") {
		writeJSON(w, http.StatusTooManyRequests, apiError{Error: "too_many_requests", Message: t.BusyText})
		return
	}
	s.plain(w, r, http.StatusTooManyRequests, t, t.BusyTitle, t.BusyText)
}

// tokenInPath finds the token of /m/<token>[/…].
func tokenInPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "/m/")
	if !ok || rest == "" {
		return "", false
	}
	tok, _, _ := strings.Cut(rest, "/")
	return tok, tok != ""
}

// tokenKey names a token in memory (rate limits, sessions) without keeping it.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte("sigill readerweb token\x00" + token))
	return string(sum[:16])
}

// ipKey is the rate-limit key of an address: IPv4 as is, IPv6 by its /64,
// which one subscriber usually holds whole.
func ipKey(ip netip.Addr) string {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// clientIP is the address of the person's device: the peer, or, when the
// peer is a trusted proxy, the right-most X-Forwarded-For entry that is not a
// trusted proxy itself.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	ip := ap.Addr().Unmap().WithZone("")
	if !s.trusted(ip) {
		return ip
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return ip // a malformed entry: trust nothing left of it
		}
		ip = a.Unmap().WithZone("")
		if !s.trusted(ip) {
			return ip
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.opt.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// wantsJSON tells a script's request from a browser's form post.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json") ||
		strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
}

type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// page is what the template draws.
type page struct {
	T       *texts
	Self    string // path of this page, for the language link
	CSS, JS string
	Script  bool
	Refresh bool
	Title   string
	Org     string
	Kind    string // "flow", "message", "withdrawn" or "plain"

	Heading, Text string            // plain pages
	Jump          template.HTMLAttr // content="0;url=…" of an immediate refresh

	Errand, Sent, SentISO string
	Until, UntilISO       string // when the message stops being readable, as Sent
	Sender                string // the sender the gateway vouches for (vault.Letter.Vouched)
	Base                  string // /m/<token>

	State        string // "start" or "pending"
	Notice       string
	NoticeTitle  string
	Status       string
	QR           bool
	QRSVG        template.HTML
	SameDevice   bool
	LaunchURL    template.URL
	LaunchPrefix string

	Mail   *mailView
	Person string

	// Replies: the form (ReplyOpen), or a note that the sender takes none
	// (RepliesOff), and the person's answers sent so far.
	ReplyOpen, RepliesOff bool
	ReplyHelp             string
	Replies               []replyView
}

type mailView struct {
	From        string // the vouched sender, never a header
	OnBehalfOf  string // the From header, when its address is not From's
	Text        string
	HTML        template.HTML
	Attachments []attView
}

type attView struct {
	Name, URL, Size string
	Note            string // why the file is as it is (a winmail.dat that could not be unpacked)
}

func (s *Server) newPage(t *texts, self string) *page {
	return &page{
		T: t, Self: self, CSS: s.assets.URL("static/app.css"), JS: s.assets.URL("static/app.js"),
		Org: s.opt.OrgName, Title: t.Title,
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, p *page) {
	if p.Org != "" && p.Title == p.T.Title {
		p.Title = p.T.Title + " – " + p.Org
	}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, "page", p); err != nil {
		s.log.Error("rendering page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(buf.Bytes())
	}
}

func (s *Server) plain(w http.ResponseWriter, r *http.Request, status int, t *texts, heading, text string) {
	p := s.newPage(t, r.URL.Path)
	p.Kind, p.Heading, p.Text = "plain", heading, text
	s.render(w, r, status, p)
}

// every runs fn every d until Close.
func (s *Server) every(d time.Duration, fn func()) {
	defer s.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func (s *Server) sweep() {
	now := s.now()
	s.limits.sweep(now)
	if s.sweeps.Add(1)%storedSweepEvery == 0 {
		if err := s.sweepStored(); err != nil {
			s.log.Error("deleting expired sessions", "err", err)
		}
	}
	var ended []*session
	s.mu.Lock()
	for id, ss := range s.sessions {
		if !now.Before(ss.expires) {
			delete(s.sessions, id)
			ended = append(ended, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range ended {
		s.endOrder(ss, false)
	}
}
