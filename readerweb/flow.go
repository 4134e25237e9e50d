package readerweb

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"sigill/addressing"
	"sigill/audit"
	"sigill/bankid"
	"sigill/vault"
)

// order is one BankID order, bound to the session that started it.
type order struct {
	ref, autoStart, qrToken, qrSecret string

	key        string // tokenKey of the link
	messageID  string
	recipient  int
	rcpt       addressing.Recipient // who may open
	ip         string               // endUserIp
	userAgent  string               // of the request that started the order, for the audit trail
	sameDevice bool
	nonce      string // in the returnUrl of a same-device order
	returnPath string // /m/<token>?lang=…, where the return leads; same-device orders only
	started    time.Time
	skey       []byte // sessionKey of the session that started it: its records' key

	// cancel stops the collector, which then cancels at BankID; done is
	// closed when the collector has ended. For an order this node does not
	// collect (the record's view, for a request of its session: remoteOrder)
	// cancel does nothing and done is closed.
	cancel    context.CancelFunc
	done      chan struct{}
	lastWrite time.Time // the collector's last write of the order's record

	orderState // guarded by Server.mu
}

// orderState is what collect has learnt.
type orderState struct {
	status string     // "pending", "complete" (allowed), "failed" or "denied"
	hint   string     // BankID's hintCode
	rfa    bankid.RFA // when the order failed by an error: its message
	risk   bool       // denied because BankID judged the risk high
	// replaced: cancelled because a new order for the same person started
	// (see makeWayFor)
	replaced bool
	pn       string // the person, once complete
	name     string
	claimed  bool // a request is recording "opened" for it
}

// qrData is the animated QR code's content for now.
func (o *order) qrData(now time.Time) string {
	secs := int(now.Sub(o.started) / time.Second)
	if secs < 0 {
		secs = 0
	}
	return bankid.QRData(o.qrToken, o.qrSecret, secs)
}

// onlyLogin is the personal number BankID should require: set when exactly
// one number, and nothing else, may open the message.
func onlyLogin(r addressing.Recipient) string {
	if !r.Anyone && len(r.Born) == 0 && len(r.Logins) == 1 {
		return r.Logins[0]
	}
	return ""
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// origin is this site's origin as the browser reached it, for the returnUrl
// ("" when the Host header is not a plain host name).
func (s *Server) origin(r *http.Request) string {
	if !hostRE.MatchString(r.Host) {
		return ""
	}
	scheme := "https"
	if !s.opt.Secure && r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

var (
	errBusy = errors.New("too many open BankID orders")
	// errSigningIn: the person an order would name is entering their
	// security code for another order of theirs on this gateway.
	errSigningIn = errors.New("the person is signing in with BankID for another order")
)

// startOrder ends the browser's current session (cancelling its order at
// BankID first, so that a new order for the same person is not
// alreadyInProgress), asks BankID for a new order and binds it to a new
// session. Every order gets a new session id: an id planted in the browser
// before BankID never carries one.
//
// An order that names a person first makes way for itself (makeWayFor), so
// that whoever holds a forwarded link cannot keep the recipient out by
// starting orders in a loop: the recipient's start cancels theirs.
func (s *Server) startOrder(w http.ResponseWriter, r *http.Request, token string, l vault.Letter, sameDevice bool, lang string) (*order, error) {
	old := s.takeSession(r)
	if old != nil {
		s.endOrder(old, true)
		s.clearCookie(w)
	}
	person := onlyLogin(l.Rcpt.Recipient)
	if person != "" {
		done := s.startingFor(person)
		defer done()
		if err := s.makeWayFor(person); err != nil {
			if errors.Is(err, errSigningIn) {
				s.log.Info("bankid order refused: the person is signing in elsewhere", "message", l.ID, "person", addressing.Mask(person))
			}
			return nil, err
		}
	}
	s.mu.Lock()
	if s.closed || s.active >= s.maxOrders || len(s.sessions) >= maxSessions {
		s.mu.Unlock()
		return nil, errBusy
	}
	s.active++
	s.mu.Unlock()

	ip := s.clientIP(r)
	o := &order{
		key:        tokenKey(token),
		messageID:  l.ID,
		recipient:  l.Recipient,
		rcpt:       l.Rcpt.Recipient,
		ip:         ip.String(),
		userAgent:  audit.UserAgent(r.Header.Get("User-Agent")),
		sameDevice: sameDevice,
		done:       make(chan struct{}),
		orderState: orderState{status: "pending", hint: string(bankid.HintOutstandingTransaction)},
	}
	req := bankid.AuthRequest{
		EndUserIP:       o.ip,
		UserVisibleData: s.opt.UserVisibleText,
		PersonalNumber:  onlyLogin(o.rcpt),
	}
	if origin := s.origin(r); sameDevice && origin != "" {
		o.nonce = randomID(16)
		o.returnPath = "/m/" + token + "?lang=" + lang
		req.ReturnURL = origin + "/r/" + o.nonce
	}
	// Not cancelled with the request: an order BankID made must be known,
	// so that it can be cancelled when the browser has gone meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), callTimeout)
	res, err := s.opt.BankID.Auth(ctx, req)
	cancel()
	if err == nil && r.Context().Err() != nil {
		o.ref = res.OrderRef
		s.cancelAtBankID(o)
		err = r.Context().Err()
	}
	if err != nil {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
		s.log.Warn("bankid auth failed", "message", l.ID, "err", err)
		return nil, err
	}
	o.ref, o.autoStart, o.qrToken, o.qrSecret = res.OrderRef, res.AutoStartToken, res.QRStartToken, res.QRStartSecret
	o.started = s.now()
	o.lastWrite = o.started

	cctx, stop := context.WithCancel(s.ctx)
	o.cancel = stop
	ss := &session{id: randomID(32), expires: s.now().Add(s.opt.SessionTTL), order: o}
	o.skey = sessionKey(ss.id)
	if o.nonce != "" {
		ss.returns = map[string]string{returnKey(o.nonce): o.returnPath}
	}
	s.mu.Lock()
	s.carry(ss, old)
	stored := ss.record()
	s.mu.Unlock()
	// In the store before anyone may ask: a poll may reach another node.
	err = s.saveStart(ss, stored)
	s.mu.Lock()
	if err != nil || s.closed {
		s.active--
		s.mu.Unlock()
		stop()
		s.cancelAtBankID(o)
		if err != nil {
			s.log.Error("saving a new order", "message", l.ID, "err", err)
		}
		return nil, errBusy
	}
	s.sessions[ss.id] = ss
	s.collectors[string(o.skey)] = o
	s.wg.Add(1)
	s.mu.Unlock()
	go s.collect(cctx, o)
	ordersStarted.Inc()
	s.setCookie(w, ss)
	s.log.Info("bankid order started", "message", l.ID, "recipient", l.Recipient,
		"same_device", sameDevice, "required_person", addressing.Mask(req.PersonalNumber))
	return o, nil
}

// startingFor waits until no other start of an order naming person is under
// way, and marks one as under way until the returned func is called; so two
// starts for one person cannot both pass makeWayFor and then meet each other
// at BankID as alreadyInProgress.
func (s *Server) startingFor(person string) (done func()) {
	for {
		s.mu.Lock()
		busy, ok := s.starting[person]
		if !ok {
			mine := make(chan struct{})
			s.starting[person] = mine
			s.mu.Unlock()
			return func() {
				s.mu.Lock()
				delete(s.starting, person)
				s.mu.Unlock()
				close(mine)
			}
		}
		s.mu.Unlock()
		<-busy
	}
}

// makeWayFor cancels, at BankID, the pending order of this gateway that
// names person, from whichever browser, link and node it was started: BankID
// would otherwise refuse the new one as alreadyInProgress, and cancel the old
// one too. The session that held it learns that a new sign-in replaced it.
// Only an order whose person is entering the security code (hint userSign,
// which only the named person's own BankID reaches) is left alone: the new
// start is refused with errSigningIn instead, so that nobody else can cancel
// the recipient's sign-in half-way.
func (s *Server) makeWayFor(person string) error {
	skey, err := s.pendingFor(person)
	if err != nil || skey == nil {
		return err
	}
	prev, err := s.endStored(skey, true, true)
	if err != nil || prev == nil {
		return err
	}
	s.mu.Lock()
	local := s.collectors[string(skey)]
	if local != nil && local.ref == prev.Ref {
		local.replaced = true
	} else {
		local = nil
	}
	s.mu.Unlock()
	if local != nil {
		local.cancel() // its collector cancels it at BankID (abandon)
		<-local.done
	} else {
		s.cancelRef(prev.Ref, prev.MessageID)
	}
	s.log.Info("bankid order replaced by a new one for the same person", "message", prev.MessageID)
	return nil
}

// collect asks BankID about the order every collectEvery while it is
// pending, and never again once it is complete or failed. When ctx ends
// first (the session ended, or Close) it cancels the order at BankID. What
// it learns goes to the order's record (recordState), and a heartbeat at
// most every beatEvery otherwise; when the record says the order is no
// longer this node's (ended or taken over elsewhere), it stops.
func (s *Server) collect(ctx context.Context, o *order) {
	defer s.wg.Done()
	defer o.cancel() // releases the context when the order ends by itself
	defer func() {
		s.mu.Lock()
		s.active--
		if s.collectors[string(o.skey)] == o {
			delete(s.collectors, string(o.skey))
		}
		s.mu.Unlock()
		close(o.done)
	}()
	t := time.NewTicker(s.collectEvery)
	defer t.Stop()
	errs := 0
	for {
		select {
		case <-ctx.Done():
			s.abandon(o)
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		res, err := s.opt.BankID.Collect(cctx, o.ref)
		cancel()
		if ctx.Err() != nil {
			s.abandon(o)
			return
		}
		if err != nil {
			errs++
			if s.collectFailed(o, err, errs) {
				return
			}
		} else {
			errs = 0
			switch res.Status {
			case bankid.StatusPending:
				s.mu.Lock()
				st := o.orderState
				s.mu.Unlock()
				if st.hint != string(res.HintCode) {
					st.hint = string(res.HintCode)
					if !s.publish(o, st) {
						return
					}
				}
			case bankid.StatusFailed:
				s.mu.Lock()
				st := o.orderState
				s.mu.Unlock()
				st.status, st.hint = "failed", string(res.HintCode)
				s.publish(o, st)
				s.log.Info("bankid order failed", "message", o.messageID, "hint", string(res.HintCode))
				countOrderEnd(orderFailed, res.HintCode)
				return
			case bankid.StatusComplete:
				countOrderEnd(orderComplete, "")
				s.complete(o, res.CompletionData)
				return
			}
		}
		if s.now().Sub(o.lastWrite) >= beatEvery {
			if err := s.heartbeat(o); errors.Is(err, errNotCollecting) {
				return // ended or taken over elsewhere: theirs to cancel
			} else if err != nil {
				s.log.Error("order heartbeat", "message", o.messageID, "err", err)
			} else {
				o.lastWrite = s.now()
			}
		}
	}
}

// publish writes the order's new state to its record, then here. It tells
// whether the collector goes on: not when the order is no longer this
// node's to collect (the record, which then knows better, is left alone).
// When the store fails, the state holds here and the collector goes on.
func (s *Server) publish(o *order, st orderState) bool {
	err := s.recordState(o, st)
	if err != nil && !errors.Is(err, errNotCollecting) {
		s.log.Error("recording an order's state", "message", o.messageID, "err", err)
	} else if err == nil {
		o.lastWrite = s.now()
	}
	s.mu.Lock()
	claimed := o.claimed
	o.orderState = st
	o.claimed = claimed
	s.mu.Unlock()
	return !errors.Is(err, errNotCollecting)
}

// collectFailed handles a collect error and tells whether the order is over.
func (s *Server) collectFailed(o *order, err error, errs int) bool {
	switch {
	case errors.Is(err, bankid.ErrInvalidParameters):
		// BankID no longer knows the order: nothing to cancel.
	case bankid.Retryable(err) && s.now().Sub(o.started) < bankid.OrderTimeout+time.Minute:
		return false
	case errs < maxCollectErrs && !errors.Is(err, bankid.ErrUnauthorized):
		return false
	default:
		s.cancelAtBankID(o)
	}
	s.mu.Lock()
	st := o.orderState
	s.mu.Unlock()
	st.status, st.hint, st.rfa = "failed", "", bankid.ErrorMessageCode(err)
	s.publish(o, st)
	s.log.Warn("bankid collect failed", "message", o.messageID, "err", err)
	countOrderEnd(orderError, "")
	return true
}

// abandon cancels an order nobody follows any more. A node that dies
// (halt) abandons nothing: another node takes its orders over.
func (s *Server) abandon(o *order) {
	if s.halted.Load() {
		return
	}
	s.mu.Lock()
	st, replaced := o.orderState, o.replaced
	s.mu.Unlock()
	if st.status != "pending" {
		return
	}
	st.status, st.hint, st.rfa = "failed", "", bankid.RFA6
	if replaced {
		st.rfa, st.replaced = "", true // the page says what happened instead
	}
	s.publish(o, st)
	s.cancelAtBankID(o)
}

func (s *Server) cancelAtBankID(o *order) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	err := s.opt.BankID.Cancel(ctx, o.ref)
	if err != nil && !errors.Is(err, bankid.ErrInvalidParameters) {
		s.log.Warn("bankid cancel failed", "message", o.messageID, "err", err)
		return
	}
	s.log.Info("bankid order cancelled", "message", o.messageID)
	countOrderEnd(orderCancelled, "")
}

// complete checks the person BankID identified. One who may not open the
// message, or an identification BankID judged high risk, is refused and
// "denied" recorded; nothing is decrypted. One who may is remembered for the
// session's next request, which records "opened" (claim).
func (s *Server) complete(o *order, cd *bankid.CompletionData) {
	pn, name := cd.User.PersonalNumber, cd.User.Name
	var detail string
	switch {
	case cd.Risk == bankid.RiskHigh:
		detail = "bankid risk high"
		denials.WithLabelValues("risk_high").Inc()
	case !o.rcpt.Allows(pn):
		detail = "not an allowed login"
		denials.WithLabelValues("not_allowed").Inc()
	}
	s.mu.Lock()
	st := o.orderState
	s.mu.Unlock()
	if detail == "" {
		st.status, st.hint, st.pn, st.name = "complete", "", pn, name
		s.log.Info("bankid identified an allowed person", "message", o.messageID, "person", addressing.Mask(pn))
		s.publish(o, st)
		return
	}
	err := s.opt.Vault.Record(vault.Event{
		MessageID: o.messageID, Recipient: o.recipient, Kind: vault.EventDenied,
		At: s.now(), PersonalNumber: pn, Name: name, IP: o.ip, UserAgent: o.userAgent, Detail: detail,
	})
	if err != nil {
		s.log.Error("recording denied", "message", o.messageID, "err", err)
	}
	// Logged before the state is published: a poll that sees "denied" may
	// rely on the log line being there (the log-secrets test reads it).
	s.log.Info("reader refused", "message", o.messageID, "person", addressing.Mask(pn), "reason", detail)
	st.status, st.hint, st.risk, st.pn = "denied", "", cd.Risk == bankid.RiskHigh, pn
	s.publish(o, st)
}

var errGone = errors.New("the session's order is no longer there to claim")

// claim is the session's first request after its order completed as an
// allowed person: it records "opened" (the person, the time and this
// request's IP), then ends the session and makes a new one, with a new id,
// that holds the grant. The old id opens nothing afterwards. When two
// requests race, one claims and the other gets errGone.
func (s *Server) claim(w http.ResponseWriter, r *http.Request, st standing, l vault.Letter) (*session, error) {
	s.mu.Lock()
	o := st.order
	if s.sessions[st.sess.id] != st.sess || st.sess.order != o || o.status != "complete" || o.claimed {
		s.mu.Unlock()
		return nil, errGone
	}
	o.claimed = true
	g := grant{pn: o.pn, name: o.name, until: s.now().Add(s.opt.SessionTTL)}
	s.mu.Unlock()

	ns := &session{id: randomID(32), expires: s.now().Add(s.opt.SessionTTL), grants: map[string]grant{o.key: g}}
	s.mu.Lock()
	s.carry(ns, st.sess)
	ns.grants[o.key] = g // this login's grant, not an older one for the same link
	stored := ns.record()
	s.mu.Unlock()

	// "opened", the old id's end and the new one's record in one
	// transaction, which finds the old order still complete and unclaimed
	// in the store: two nodes that get the same session's first request
	// after completion record "opened" once.
	oldKey, newKey := sessionKey(st.sess.id), sessionKey(ns.id)
	err := s.opt.Vault.RecordWithin(context.Background(), vault.Event{
		MessageID: l.ID, Recipient: l.Recipient, Kind: vault.EventOpened,
		At: s.now(), PersonalNumber: g.pn, Name: g.name, IP: s.clientIP(r).String(),
		UserAgent: audit.UserAgent(r.Header.Get("User-Agent")),
	}, sessionTables, func(tx vault.Tx, _ vault.Event) error {
		var rec storedSession
		ok, err := getJSON(tx.Table(tSessions), oldKey, &rec)
		if err != nil {
			return err
		}
		if !ok || rec.Order == nil || rec.Order.Ref != o.ref || rec.Order.Status != "complete" {
			return errGone
		}
		if err := tx.Table(tSessions).Delete(oldKey); err != nil {
			return err
		}
		return putJSON(tx.Table(tSessions), newKey, stored)
	})
	if err != nil {
		s.mu.Lock()
		o.claimed = false
		if errors.Is(err, errGone) {
			delete(s.sessions, st.sess.id)
		}
		s.mu.Unlock()
		if errors.Is(err, errGone) {
			return nil, errGone
		}
		s.log.Error("recording opened", "message", l.ID, "err", err)
		return nil, err
	}
	s.mu.Lock()
	delete(s.sessions, st.sess.id)
	ns.stored = true
	if !s.closed {
		s.sessions[ns.id] = ns
	}
	s.mu.Unlock()
	s.setCookie(w, ns)
	s.log.Info("message opened", "message", l.ID, "recipient", l.Recipient, "person", addressing.Mask(g.pn))
	opens.Inc()
	return ns, nil
}
