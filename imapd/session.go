package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"sigill/internal/authgate"
	receiptbox "sigill/receipts/mailbox"
	"sigill/vault"
)

const (
	inbox = "INBOX"
	delim = '/'
)

// The refusals, each with the reason a staff member can act on.
var (
	errNoMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent,
		Text: "No such mailbox: this server has only INBOX, the receipts of your secure messages"}
	errCreate = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "CREATE refused: this server has only INBOX, the receipts of your secure messages"}
	errDelete = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "DELETE refused: INBOX holds the receipts of your secure messages and cannot be deleted"}
	errRename = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "RENAME refused: this server has only INBOX, and it keeps its name"}
	errAppend = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "APPEND refused: INBOX holds only the receipts the gateway writes"}
	errCopy = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "COPY refused: this server has only INBOX (your mail program can still save a copy in a local folder)"}
	errMove = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "MOVE refused: receipts are the audit trail of your secure messages and stay in INBOX"}
	errExpunge = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "EXPUNGE refused: receipts are the audit trail of your secure messages and are kept until the audit retention ends"}
	errDeleted = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: `STORE refused: receipts cannot be marked \Deleted, they are the audit trail of your secure messages; \Seen, \Flagged, \Answered and \Draft can be set`}
	errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "STORE refused: INBOX was opened with EXAMINE (read-only); use SELECT to change flags"}
	errPrivacy = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired,
		Text: "TLS is required to log in: use port 993 or STARTTLS"}
	errUnavailable = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Temporary failure, try again later"}
	errDisabled = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed,
		Text: "This account is disabled; ask an administrator"}
	errAppPassword = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed,
		Text: "This account uses a second factor: log in with an app password (sigill user app-password)"}
	errThrottled = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Too many failed logins from your address or at this account; wait a few minutes and try again"}
)

// session is one connection.
type session struct {
	s       *Server
	conn    *imapserver.Conn
	guard   *guardConn // nil for a connection handed to go-imap some other way
	remote  net.Addr
	account string        // "" until logged in
	authed  vault.Account // what Login returned, re-checked before each command (guard.go)
	fails   int

	// box and view are set and cleared on the connection's goroutine; mu
	// orders that with Idle, which go-imap runs on a goroutine of its own.
	mu        sync.Mutex
	box       *mailbox // nil unless INBOX is selected
	view      *imapserver.SessionTracker
	readOnly  bool
	searchRes imap.UIDSet
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	ss := &session{s: s, conn: c, remote: c.NetConn().RemoteAddr()}
	if g, ok := c.NetConn().(*guardConn); ok {
		if err := s.track(g); err != nil {
			return nil, nil, err
		}
		g.mu.Lock()
		g.session = ss
		g.mu.Unlock()
		ss.guard = g
	}
	sessionsOpen.Inc()
	return ss, nil, nil
}

func (ss *session) Close() error {
	sessionsOpen.Dec()
	ss.unselect()
	if ss.guard != nil {
		ss.s.untrack(ss.guard)
	}
	return nil
}

// secure reports whether credentials may cross this connection: TLS, or
// InsecureAuth (sigill dev) with a loopback peer.
func (ss *session) secure() bool {
	if g, ok := ss.conn.NetConn().(*guardConn); ok && g.tls {
		return true
	}
	return ss.s.o.InsecureAuth && isLoopback(ss.remote)
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func (ss *session) peer() string {
	if tcp, ok := ss.remote.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	return ss.remote.String()
}

func peerIP(a net.Addr) netip.Addr {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func (ss *session) Login(username, password string) error {
	if !ss.secure() {
		return errPrivacy
	}
	try := ss.s.o.AuthGate.Try(peerIP(ss.remote), username)
	if try == nil {
		ss.s.log.Warn("imap login refused: too many failures", "peer", ss.peer())
		authgate.CountThrottled("imap")
		return errThrottled
	}
	acct, err := ss.s.o.Vault.Authenticate(username, password)
	// A disabled account, or an account password where only app passwords
	// open, fails like a wrong password (the gate keeps the token) but says so.
	if refused := loginRefusal(err); refused != nil {
		ss.fails++
		login := ss.s.o.Vault.LoggableLogin(username)
		ss.s.log.Info("imap login failed", "user", login, "peer", ss.peer(), "failures", ss.fails, "why", refused.Text)
		if ss.s.o.LoginFailed != nil {
			ss.s.o.LoginFailed(peerIP(ss.remote), login, refused.Text)
		}
		authgate.CountFailure("imap")
		try.Failed()
		if ss.fails >= maxLoginFails {
			ss.s.log.Warn("imap: too many failed logins, closing the connection", "peer", ss.peer())
			ss.conn.NetConn().Close()
		}
		return refused
	}
	if err != nil {
		try.Abandoned()
		ss.s.log.Error("imap login", "user", ss.s.o.Vault.LoggableLogin(username), "peer", ss.peer(), "err", err)
		return errUnavailable
	}
	try.Succeeded()
	ss.account, ss.authed = acct.Address, acct
	ss.s.log.Info("imap login", "account", acct.Address, "peer", ss.peer())
	return nil
}

// loginRefusal is the answer to a login the vault refused, nil for any
// other outcome.
func loginRefusal(err error) *imap.Error {
	switch {
	case errors.Is(err, vault.ErrBadCredentials):
		return imapserver.ErrAuthFailed
	case errors.Is(err, vault.ErrAccountDisabled):
		return errDisabled
	case errors.Is(err, vault.ErrAppPasswordRequired):
		return errAppPassword
	}
	return nil
}

// loginLost says why a logged-in session ends before its next command,
// "" while its login still holds: the account disabled or removed, its
// password set or second factor reset, or the app password it logged in
// with revoked, since LOGIN. A vault that cannot
// be read ends it too, rather than serve on an unchecked login.
func (ss *session) loginLost() string {
	if ss.account == "" {
		return ""
	}
	err := ss.s.o.Vault.StillValid(ss.authed)
	if err == nil {
		return ""
	}
	why, ok := vault.WhyLoginEnded(err)
	if !ok {
		ss.s.log.Error("imap: the login could not be re-checked", "account", ss.account, "peer", ss.peer(), "err", err)
		return "Temporary failure, try again later"
	}
	ss.s.log.Info("imap session ended: its login no longer holds", "account", ss.account, "peer", ss.peer(), "why", why)
	return why
}

func isInbox(name string) bool { return strings.EqualFold(name, inbox) }

// Mailbox commands (authenticated state).

func (ss *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if !isInbox(name) {
		return nil, errNoMailbox
	}
	ss.unselect()
	mb, err := ss.s.acquire(ss.account)
	if err != nil {
		ss.s.log.Error("imap select", "account", ss.account, "err", err)
		return nil, errUnavailable
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	ss.mu.Lock()
	ss.box, ss.view, ss.readOnly, ss.searchRes = mb, mb.tracker.NewSession(), options.ReadOnly, nil
	ss.mu.Unlock()
	data := &imap.SelectData{
		Flags:          flagList(receiptbox.FlagSeen | receiptbox.FlagAnswered | receiptbox.FlagFlagged | receiptbox.FlagDraft),
		PermanentFlags: flagList(receiptbox.FlagSeen | receiptbox.FlagAnswered | receiptbox.FlagFlagged | receiptbox.FlagDraft),
		NumMessages:    uint32(len(mb.entries)),
		UIDNext:        imap.UID(mb.next),
		UIDValidity:    mb.validity,
	}
	if options.ReadOnly {
		data.PermanentFlags = []imap.Flag{}
	}
	for i, e := range mb.entries {
		if e.Flags&receiptbox.FlagSeen == 0 {
			data.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	return data, nil
}

func (ss *session) Unselect() error {
	ss.unselect()
	return nil
}

func (ss *session) unselect() {
	if ss.box == nil {
		return
	}
	ss.mu.Lock()
	box, view := ss.box, ss.view
	ss.box, ss.view, ss.searchRes = nil, nil, nil
	ss.mu.Unlock()
	view.Close()
	ss.s.release(box)
}

func (ss *session) Create(string, *imap.CreateOptions) error               { return errCreate }
func (ss *session) Delete(string) error                                    { return errDelete }
func (ss *session) Rename(string, string, *imap.RenameOptions) error       { return errRename }
func (ss *session) Copy(imap.NumSet, string) (*imap.CopyData, error)       { return nil, errCopy }
func (ss *session) Move(*imapserver.MoveWriter, imap.NumSet, string) error { return errMove }

func (ss *session) Append(string, imap.LiteralReader, *imap.AppendOptions) (*imap.AppendData, error) {
	return nil, errAppend
}

func (ss *session) Subscribe(name string) error {
	if !isInbox(name) {
		return errNoMailbox
	}
	return nil // INBOX is always subscribed
}

func (ss *session) Unsubscribe(name string) error {
	if !isInbox(name) {
		return errNoMailbox
	}
	return nil
}

func (ss *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	match := false
	for _, p := range patterns {
		if imapserver.MatchList(inbox, delim, ref, p) || strings.EqualFold(ref+p, inbox) {
			match = true
		}
	}
	if !match || options.SelectSpecialUse {
		return nil
	}
	data := &imap.ListData{Mailbox: inbox, Delim: delim, Attrs: []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}}
	if options.SelectSubscribed || options.ReturnSubscribed {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if options.ReturnStatus != nil {
		st, err := ss.Status(inbox, options.ReturnStatus)
		if err != nil {
			return err
		}
		data.Status = st
	}
	return w.WriteList(data)
}

func (ss *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if !isInbox(name) {
		return nil, errNoMailbox
	}
	box, err := ss.s.o.Mailboxes.Mailbox(ss.account)
	if err != nil {
		ss.s.log.Error("imap status", "account", ss.account, "err", err)
		return nil, errUnavailable
	}
	data := &imap.StatusData{Mailbox: inbox}
	n := uint32(len(box.Entries))
	zero := uint32(0)
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(box.UIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = box.UIDValidity
	}
	if options.NumUnseen {
		var unseen uint32
		for _, e := range box.Entries {
			if e.Flags&receiptbox.FlagSeen == 0 {
				unseen++
			}
		}
		data.NumUnseen = &unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &zero
	}
	if options.NumRecent {
		data.NumRecent = &zero
	}
	if options.Size {
		var size int64
		for _, e := range box.Entries {
			b, err := ss.s.receipt(e.Event)
			if err != nil {
				continue // purged meanwhile
			}
			size += int64(len(b.raw))
		}
		data.Size = &size
	}
	return data, nil
}

func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if ss.view == nil {
		return nil
	}
	return ss.view.Poll(w, allowExpunge)
}

// Idle pushes updates while the client idles. It does not use go-imap's
// SessionTracker.Idle: that waits for updates queued after it starts, and
// go-imap polls only after a command completes, so a receipt filed between
// SELECT (or DONE) and IDLE stayed unannounced until the next receipt or
// command — for Thunderbird, until it renews IDLE half an hour later
// (beta.8). Registering first and then polling once leaves no such gap.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	ss.mu.Lock()
	box, view := ss.box, ss.view
	ss.mu.Unlock()
	if view == nil {
		<-stop
		return nil
	}
	wake, done := box.idle()
	defer done()
	for {
		if err := view.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-wake:
		case <-stop:
			return nil
		}
	}
}

// Selected state.

// Expunge refuses EXPUNGE and UID EXPUNGE. CLOSE calls it too (with a writer
// that writes nothing) before it unselects: that one succeeds, as there is
// never a \Deleted receipt to expunge. go-imap gives no other way to tell the
// two apart than that writer's unexported connection (pinned beta.8; a test
// holds both behaviours).
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if uids == nil && silentWriter(w) {
		return nil
	}
	return errExpunge
}

func silentWriter(w *imapserver.ExpungeWriter) bool {
	if w == nil {
		return true
	}
	f := reflect.ValueOf(w).Elem().FieldByName("conn")
	return f.IsValid() && f.Kind() == reflect.Pointer && f.IsNil()
}

// target is one message a command addresses.
type target struct {
	seq    uint32 // in the mailbox tracker's numbering
	client uint32 // in this session's numbering
	entry  receiptbox.Entry
}

// resolve turns a sequence or UID set into the messages this session knows
// of. A message the session has not yet been told of (no EXISTS yet) is left
// out. Call with box.mu held.
func (ss *session) resolve(numSet imap.NumSet) []target {
	mb := ss.box
	var maxSeq, maxUID uint32
	for i := len(mb.entries) - 1; i >= 0; i-- {
		if c := ss.view.EncodeSeqNum(uint32(i + 1)); c != 0 {
			maxSeq, maxUID = c, mb.entries[i].UID
			break
		}
	}
	numSet = ss.static(numSet, maxSeq, maxUID)
	var out []target
	for i, e := range mb.entries {
		c := ss.view.EncodeSeqNum(uint32(i + 1))
		if c == 0 {
			continue
		}
		var in bool
		switch set := numSet.(type) {
		case imap.SeqSet:
			in = set.Contains(c)
		case imap.UIDSet:
			in = set.Contains(imap.UID(e.UID))
		}
		if in {
			out = append(out, target{seq: uint32(i + 1), client: c, entry: e})
		}
	}
	return out
}

// static replaces "*" with the largest number in use and "$" with the last
// SEARCH result, on a copy.
func (ss *session) static(numSet imap.NumSet, maxSeq, maxUID uint32) imap.NumSet {
	if imap.IsSearchRes(numSet) {
		return append(imap.UIDSet(nil), ss.searchRes...)
	}
	switch set := numSet.(type) {
	case imap.SeqSet:
		out := append(imap.SeqSet(nil), set...)
		for i := range out {
			staticRange(&out[i].Start, &out[i].Stop, maxSeq)
		}
		return out
	case imap.UIDSet:
		out := append(imap.UIDSet(nil), set...)
		for i := range out {
			staticRange((*uint32)(&out[i].Start), (*uint32)(&out[i].Stop), maxUID)
		}
		return out
	}
	return numSet
}

func staticRange(start, stop *uint32, max uint32) {
	dyn := false
	if *start == 0 {
		*start, dyn = max, true
	}
	if *stop == 0 {
		*stop, dyn = max, true
	}
	if dyn && *start > *stop {
		*start, *stop = *stop, *start
	}
}

func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	markSeen := false
	if !ss.readOnly {
		for _, bs := range options.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range options.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	mb := ss.box
	mb.mu.Lock()
	targets := ss.resolve(numSet)
	changed := make(map[uint32]bool)
	if markSeen {
		var uids []uint32
		for _, t := range targets {
			if t.entry.Flags&receiptbox.FlagSeen == 0 {
				uids = append(uids, t.entry.UID)
			}
		}
		if len(uids) > 0 {
			if err := ss.store(uids, receiptbox.FlagsAdd, receiptbox.FlagSeen, changed); err != nil {
				mb.mu.Unlock()
				return err
			}
			for i := range targets {
				if changed[targets[i].entry.UID] {
					targets[i].entry.Flags |= receiptbox.FlagSeen
				}
			}
		}
	}
	mb.mu.Unlock()

	for _, t := range targets {
		if err := ss.fetchOne(w, t, options, changed[t.entry.UID]); err != nil {
			return err
		}
	}
	return nil
}

// store changes flags in the vault and in the mailbox, and tells the
// account's other sessions; changed gets the UIDs whose flags changed. Call
// with box.mu held.
func (ss *session) store(uids []uint32, op receiptbox.FlagOp, flags receiptbox.Flags, changed map[uint32]bool) error {
	mb := ss.box
	updated, err := ss.s.o.Mailboxes.StoreFlags(ss.account, uids, op, flags)
	if err != nil {
		ss.s.log.Error("imap store", "account", ss.account, "err", err)
		return errUnavailable
	}
	for _, e := range updated {
		i := mb.index(e.UID)
		if i < 0 || mb.entries[i].Flags == e.Flags {
			continue
		}
		mb.entries[i].Flags = e.Flags
		changed[e.UID] = true
		mb.tracker.QueueMessageFlags(uint32(i+1), imap.UID(e.UID), flagList(e.Flags), ss.view)
	}
	mb.wakeIdlers()
	return nil
}

func (ss *session) fetchOne(w *imapserver.FetchWriter, t target, options *imap.FetchOptions, seenNow bool) error {
	var b *built
	if options.InternalDate || options.RFC822Size || options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		var err error
		if b, err = ss.s.receipt(t.entry.Event); err != nil {
			if errors.Is(err, vault.ErrNotFound) {
				return nil // purged at audit retention meanwhile; EXPUNGE follows
			}
			ss.s.log.Error("imap fetch", "account", ss.account, "uid", t.entry.UID, "err", err)
			return errUnavailable
		}
	}
	rw := w.CreateMessage(t.client)
	rw.WriteUID(imap.UID(t.entry.UID))
	if options.Flags || seenNow {
		rw.WriteFlags(flagList(t.entry.Flags))
	}
	if options.InternalDate {
		rw.WriteInternalDate(b.at)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(int64(len(b.raw)))
	}
	if options.Envelope {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(b.raw)))
		if err != nil {
			rw.Close()
			ss.s.log.Error("imap fetch: a receipt's header", "account", ss.account, "uid", t.entry.UID, "err", err)
			return errUnavailable
		}
		rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(b.raw)))
	}
	for _, bs := range options.BodySection {
		buf := imapserver.ExtractBodySection(bytes.NewReader(b.raw), bs)
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		buf := imapserver.ExtractBinarySection(bytes.NewReader(b.raw), bs)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(buf))), buf); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(b.raw), bss))
	}
	return rw.Close()
}

func writeLiteral(wc interface {
	Write([]byte) (int, error)
	Close() error
}, buf []byte) error {
	_, err := wc.Write(buf)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if ss.readOnly {
		return errReadOnly
	}
	var bits receiptbox.Flags
	for _, f := range flags.Flags {
		switch {
		case strings.EqualFold(string(f), string(imap.FlagDeleted)):
			if flags.Op != imap.StoreFlagsDel {
				return errDeleted
			}
		default:
			bits |= flagBit(f) // keywords are not kept: 0
		}
	}
	op := map[imap.StoreFlagsOp]receiptbox.FlagOp{
		imap.StoreFlagsSet: receiptbox.FlagsSet, imap.StoreFlagsAdd: receiptbox.FlagsAdd, imap.StoreFlagsDel: receiptbox.FlagsRemove,
	}[flags.Op]
	mb := ss.box
	mb.mu.Lock()
	targets := ss.resolve(numSet)
	uids := make([]uint32, len(targets))
	for i, t := range targets {
		uids[i] = t.entry.UID
	}
	changed := make(map[uint32]bool)
	if len(uids) > 0 {
		if err := ss.store(uids, op, bits, changed); err != nil {
			mb.mu.Unlock()
			return err
		}
	}
	for i := range targets {
		if j := mb.index(targets[i].entry.UID); j >= 0 {
			targets[i].entry.Flags = mb.entries[j].Flags
		}
	}
	mb.mu.Unlock()
	if flags.Silent {
		return nil
	}
	for _, t := range targets {
		rw := w.CreateMessage(t.client)
		rw.WriteUID(imap.UID(t.entry.UID))
		rw.WriteFlags(flagList(t.entry.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

var flagNames = []struct {
	bit  receiptbox.Flags
	flag imap.Flag
}{
	{receiptbox.FlagSeen, imap.FlagSeen},
	{receiptbox.FlagAnswered, imap.FlagAnswered},
	{receiptbox.FlagFlagged, imap.FlagFlagged},
	{receiptbox.FlagDraft, imap.FlagDraft},
}

func flagList(f receiptbox.Flags) []imap.Flag {
	out := []imap.Flag{}
	for _, n := range flagNames {
		if f&n.bit != 0 {
			out = append(out, n.flag)
		}
	}
	return out
}

// flagBit is a flag's bit; 0 for one the mailbox does not keep.
func flagBit(f imap.Flag) receiptbox.Flags {
	for _, n := range flagNames {
		if strings.EqualFold(string(f), string(n.flag)) {
			return n.bit
		}
	}
	return 0
}
