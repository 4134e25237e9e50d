package imapd

import (
	"container/list"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sigill/addressing"
	"sigill/internal/authgate"
	"sigill/receipts"
	receiptbox "sigill/receipts/mailbox"
	"sigill/vault"
)

// Options configure New. Vault and Mailboxes are required.
type Options struct {
	Vault        *vault.Vault      // staff accounts
	Mailboxes    *receiptbox.Store // the receipts mailboxes (attached to Vault)
	Org          receipts.Org      // what the receipts say about the organisation
	TLS          *tls.Config       // STARTTLS on Serve's listeners; required by ServeTLS
	InsecureAuth bool              // sigill dev: LOGIN without TLS, from loopback peers only
	Logger       *slog.Logger      // nil: discard
	// AuthGate limits password tries per client address and account
	// across connections; cmd shares one with SMTP. Nil: a gate of this
	// server's own, with the default limits.
	AuthGate *authgate.Gate
	// LoginFailed, when set, is told of every refused LOGIN (the login as
	// vault.LoggableLogin names it, never the password): cmd records it
	// in the audit trail.
	LoginFailed func(ip netip.Addr, login, why string)
}

// Server is an IMAP server of receipts mailboxes.
type Server struct {
	o     Options
	log   *slog.Logger
	cache *receiptCache
	// erasures signals an erasure of a personal number: the cache may
	// hold a receipt naming it, and is emptied before it is read again.
	erasures   <-chan struct{}
	endErasure func()

	// Two go-imap servers, as go-imap knows TLS only by a *tls.Conn and is
	// handed guards (guard.go): one for plain connections (STARTTLS,
	// LOGINDISABLED) and one for those in TLS already.
	imap, imapTLS        *imapserver.Server
	plainConns, tlsConns *connQueue
	startPlain, startTLS sync.Once

	mu        sync.Mutex
	boxes     map[string]*mailbox
	listeners map[net.Listener]struct{}
	closed    bool

	// Shutdown's (drain.go); guarded by mu, draining also read without it.
	guards   map[*guardConn]struct{} // of the open sessions
	draining atomic.Bool
	drained  chan struct{} // closed when the last session ends during Shutdown
}

// How many failed logins one connection may make before it is closed; the
// AuthGate limits them per address across connections.
const maxLoginFails = 3

// New makes a server. It panics without a Vault or Mailboxes.
func New(o Options) *Server {
	if o.Vault == nil || o.Mailboxes == nil {
		panic("imapd: Options.Vault or Options.Mailboxes is nil")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.AuthGate == nil {
		o.AuthGate = authgate.New(authgate.Limits{})
	}
	s := &Server{
		o:          o,
		log:        log,
		cache:      newReceiptCache(16 << 20),
		boxes:      make(map[string]*mailbox),
		listeners:  make(map[net.Listener]struct{}),
		guards:     make(map[*guardConn]struct{}),
		plainConns: newConnQueue(),
		tlsConns:   newConnQueue(),
	}
	s.erasures, s.endErasure = o.Mailboxes.Erasures()
	caps := imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       imapLogger{log},
		TLSConfig:    o.TLS, // go-imap offers STARTTLS; the guard does it
		InsecureAuth: o.InsecureAuth,
	})
	// Every connection here is TLS; Login checks that once more.
	s.imapTLS = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       imapLogger{log},
		InsecureAuth: true,
	})
	return s
}

// Serve answers IMAP on ln (plain, with STARTTLS when Options.TLS is set)
// until Shutdown or Close. It returns nil once closed.
func (s *Server) Serve(ln net.Listener) error {
	return s.accept(ln, false)
}

// ServeTLS answers IMAP with implicit TLS (port 993) on ln until Shutdown
// or Close.
func (s *Server) ServeTLS(ln net.Listener) error {
	if s.o.TLS == nil {
		return errors.New("imapd: ServeTLS without Options.TLS")
	}
	return s.accept(ln, true)
}

// Close closes the listeners and every connection at once; Shutdown is the
// graceful way.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.endErasure()
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.plainConns.Close()
	s.tlsConns.Close()
	err := s.imap.Close()
	if err2 := s.imapTLS.Close(); err == nil {
		err = err2
	}
	s.mu.Lock()
	for _, mb := range s.boxes {
		mb.cancel()
	}
	s.mu.Unlock()
	return err
}

// imapLogger passes go-imap's own messages (connection and protocol faults;
// it never logs credentials unless given a DebugWriter, which sigill does
// not) to slog, personal numbers masked: a fault may quote what the client
// sent.
type imapLogger struct{ log *slog.Logger }

func (l imapLogger) Printf(format string, args ...any) {
	l.log.Warn("imap: " + addressing.MaskPersonalNumbers(fmt.Sprintf(format, args...)))
}

// mailbox is one account's INBOX while sessions have it selected: the
// entries as the sessions' tracker knows them, kept in step with the vault.
type mailbox struct {
	s        *Server
	account  string
	validity uint32
	tracker  *imapserver.MailboxTracker
	cancel   func() // ends the vault subscription, and with it watch
	refs     int    // sessions that selected it; guarded by s.mu

	// mu guards entries and next, and orders every change of them with the
	// tracker updates that announce it.
	mu      sync.Mutex
	entries []receiptbox.Entry // by UID, as the tracker numbers them
	top     uint32             // highest UID ever in entries
	next    uint32
	idlers  map[chan struct{}]struct{} // sessions in IDLE, woken after tracker updates
}

// idle registers a session in IDLE: wake gets a signal after every batch of
// tracker updates queued from then on; done ends that.
func (mb *mailbox) idle() (wake <-chan struct{}, done func()) {
	ch := make(chan struct{}, 1)
	mb.mu.Lock()
	if mb.idlers == nil {
		mb.idlers = map[chan struct{}]struct{}{}
	}
	mb.idlers[ch] = struct{}{}
	mb.mu.Unlock()
	return ch, func() {
		mb.mu.Lock()
		delete(mb.idlers, ch)
		mb.mu.Unlock()
	}
}

// wakeIdlers tells the sessions in IDLE that updates are queued for them.
// Call with mu held, after queueing.
func (mb *mailbox) wakeIdlers() {
	for ch := range mb.idlers {
		select {
		case ch <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

func (s *Server) acquire(account string) (*mailbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("server closed")
	}
	if mb := s.boxes[account]; mb != nil {
		mb.refs++
		return mb, nil
	}
	// Subscribe first, then read: a receipt filed in between is read now
	// and found again (unchanged) by the refresh its signal causes.
	sig, cancel := s.o.Mailboxes.Subscribe(account)
	box, err := s.o.Mailboxes.Mailbox(account)
	if err != nil {
		cancel()
		return nil, err
	}
	mb := &mailbox{
		s: s, account: account, validity: box.UIDValidity,
		tracker: imapserver.NewMailboxTracker(uint32(len(box.Entries))),
		cancel:  cancel, refs: 1,
		entries: box.Entries, next: box.UIDNext,
	}
	if n := len(box.Entries); n > 0 {
		mb.top = box.Entries[n-1].UID
	}
	s.boxes[account] = mb
	go mb.watch(sig)
	return mb, nil
}

func (s *Server) release(mb *mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mb.refs--
	if mb.refs == 0 {
		if s.boxes[mb.account] == mb {
			delete(s.boxes, mb.account)
		}
		mb.cancel()
	}
}

func (mb *mailbox) watch(sig <-chan struct{}) {
	for range sig {
		mb.refresh()
	}
}

// refresh brings entries in step with the vault and queues what changed for
// the sessions: EXPUNGE for entries gone (audit retention), FETCH FLAGS for
// flags stored elsewhere, and one EXISTS per new receipt (one at a time, as
// SessionTracker.EncodeSeqNum expects).
func (mb *mailbox) refresh() {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	box, err := mb.s.o.Mailboxes.Mailbox(mb.account)
	if err != nil {
		mb.s.log.Error("imap: reading a mailbox", "account", mb.account, "err", err)
		return
	}
	if box.UIDValidity != mb.validity {
		mb.s.log.Error("imap: UIDVALIDITY changed under a selected mailbox", "account", mb.account)
		return
	}
	now := make(map[uint32]receiptbox.Entry, len(box.Entries))
	for _, e := range box.Entries {
		now[e.UID] = e
	}
	for i := len(mb.entries) - 1; i >= 0; i-- {
		if _, ok := now[mb.entries[i].UID]; !ok {
			mb.tracker.QueueExpunge(uint32(i + 1))
			mb.entries = append(mb.entries[:i], mb.entries[i+1:]...)
		}
	}
	for i, e := range mb.entries {
		if ne := now[e.UID]; ne.Flags != e.Flags {
			mb.entries[i].Flags = ne.Flags
			mb.tracker.QueueMessageFlags(uint32(i+1), imap.UID(e.UID), flagList(ne.Flags), nil)
		}
	}
	for _, e := range box.Entries {
		if e.UID > mb.top {
			mb.entries = append(mb.entries, e)
			mb.top = e.UID
			mb.tracker.QueueNumMessages(uint32(len(mb.entries)))
		}
	}
	mb.next = box.UIDNext
	mb.wakeIdlers()
}

// index finds an entry by UID; -1 when absent. Call with mu held.
func (mb *mailbox) index(uid uint32) int {
	lo, hi := 0, len(mb.entries)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case mb.entries[m].UID < uid:
			lo = m + 1
		case mb.entries[m].UID > uid:
			hi = m
		default:
			return m
		}
	}
	return -1
}

// built is a receipt as FETCH serves it.
type built struct {
	raw []byte
	at  time.Time // INTERNALDATE: when the event happened
}

// receipt returns the bytes of an event's receipt, from the cache or built
// anew (receipts.Build is deterministic and a reply's mail is kept as
// sent, so both are the same).
func (s *Server) receipt(seq uint64) (*built, error) {
	select {
	case <-s.erasures:
		s.cache.clear()
	default:
	}
	if b := s.cache.get(seq); b != nil {
		return b, nil
	}
	raw, at, err := s.o.Mailboxes.Message(s.o.Org, seq)
	if err != nil {
		return nil, err
	}
	b := &built{raw: raw, at: at}
	s.cache.put(seq, b)
	return b, nil
}

// receiptCache keeps recently built receipts, up to max bytes, least
// recently used out first.
type receiptCache struct {
	mu    sync.Mutex
	max   int
	size  int
	ll    *list.List // of cacheItem, most recent first
	items map[uint64]*list.Element
}

type cacheItem struct {
	seq uint64
	b   *built
}

func newReceiptCache(max int) *receiptCache {
	return &receiptCache{max: max, ll: list.New(), items: make(map[uint64]*list.Element)}
}

func (c *receiptCache) get(seq uint64) *built {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.items[seq]; e != nil {
		c.ll.MoveToFront(e)
		return e.Value.(cacheItem).b
	}
	return nil
}

func (c *receiptCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.items)
	c.size = 0
}

func (c *receiptCache) put(seq uint64, b *built) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items[seq] != nil || len(b.raw) > c.max {
		return
	}
	c.items[seq] = c.ll.PushFront(cacheItem{seq, b})
	c.size += len(b.raw)
	for c.size > c.max {
		e := c.ll.Back()
		it := e.Value.(cacheItem)
		c.ll.Remove(e)
		delete(c.items, it.seq)
		c.size -= len(it.b.raw)
	}
}
