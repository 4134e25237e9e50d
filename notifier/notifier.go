package notifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sigill/addressing"
	"sigill/config"
	"sigill/vault"
)

// Defaults of Options.
const (
	DefaultWorkers     = 8
	DefaultMaxAge      = 48 * time.Hour
	DefaultPollEvery   = time.Second
	DefaultSendTimeout = 30 * time.Second
	DefaultLease       = time.Minute
	// devSendTimeout is sigill dev's: its providers answer at once, and its
	// lease (vault.lease, 20 s) must be twice this.
	devSendTimeout = 10 * time.Second
)

// Options configure New. Vault, LinkBase, OrgName and SMS are required.
type Options struct {
	Vault     *vault.Vault
	Workers   int           // concurrent sends (notifier.workers); default 8
	MaxAge    time.Duration // give up on a job this long after acceptance (notifier.max_age); default 48h
	LinkBase  string        // link = LinkBase + "/m/" + token (notifier.link_base)
	OrgName   string        // organisation.name
	SMSSender string        // organisation.sms_sender
	SMS       SMSProvider   // NewSMSProvider's, or a test's
	ReportURL string        // notifier.sms.delivery_report_url: asked of providers for delivery reports; "" = none
	// Email is the smarthost for e-mail notifications. When nil, e-mail
	// goes to the log provider if SMS is one (sigill dev: both channels in
	// outbox.jsonl); otherwise New refuses, as serve always has a smarthost.
	Email  *SMTPSender
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // injectable clock for due times, backoff and max_age; time.Now when nil
	// PollEvery is how often idle workers look for due jobs (retries come
	// due without a Kick); default 1 s. Looking costs a read transaction.
	PollEvery time.Duration
	// ReceiptMail builds the message of a receipt job (mailbox.JobReceipt,
	// which receipts/mailbox queues with each receipt it files when
	// receipts.mail_to_sender is set): cmd wires the receipts package's builder here. It is mailed to
	// the job's To with a null envelope sender, through Email. When nil,
	// receipt jobs are retried until MaxAge and then dropped. An error
	// wrapping vault.ErrNotFound (the event is gone) drops the job at once.
	ReceiptMail func(ctx context.Context, j vault.Job) ([]byte, error)
	// Webhook delivers a webhook job (kind "webhook", which the REST API's
	// vault hook queues for each event an endpoint subscribed to): cmd
	// wires the api package's delivery here. An error is retried on the
	// webhook schedule (WebhookBackoff, until WebhookMaxAge); a Permanent
	// one, or one wrapping vault.ErrNotFound (the endpoint or the event is
	// gone), drops the job at once. When nil, webhook jobs are retried until
	// WebhookMaxAge and then dropped.
	Webhook func(ctx context.Context, j vault.Job) error
	// SendTimeout bounds one attempt (connect, send, answer); default 30 s.
	SendTimeout time.Duration
	// Lease is how long a claimed job is kept from other claims (and
	// other nodes, vault.lease); a job whose worker hung, or whose node
	// died, comes back after it. Default 1 min; at least twice
	// SendTimeout. (A job left leased by a killed process of this node is
	// due again at the next start at once: see vault.ReleaseClaims.)
	Lease time.Duration
}

// Notifier runs the outbox workers and answers delivery reports.
type Notifier struct {
	o    Options
	v    *vault.Vault
	q    vault.Outbox // the vault's: claims and outcomes
	log  *slog.Logger
	now  func() time.Time
	sms  SMSProvider
	mail MailSender
	link string // LinkBase + "/m/"
	from string // e-mail From address

	kick    chan struct{}
	rand    func() float64
	running atomic.Bool
}

// New checks the options and returns a Notifier; Run starts it.
func New(o Options) (*Notifier, error) {
	if o.Vault == nil {
		return nil, errors.New("notifier: no vault")
	}
	if o.SMS == nil {
		return nil, errors.New("notifier: no SMS provider")
	}
	if strings.TrimSpace(o.OrgName) == "" {
		return nil, errors.New("notifier: no organisation name")
	}
	u, err := url.Parse(o.LinkBase)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("notifier: link base %q is not an http(s) URL without query", o.LinkBase)
	}
	if !o.Vault.HasHook(hookName) {
		return nil, errors.New("notifier: the vault was opened without the notifier's hook (notifier.Hook): no delivery report would find its notification")
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.Workers < 0 {
		return nil, errors.New("notifier: negative worker count")
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.PollEvery <= 0 {
		o.PollEvery = DefaultPollEvery
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < 2*o.SendTimeout {
		return nil, fmt.Errorf("notifier: lease %v is shorter than twice the send timeout %v", o.Lease, o.SendTimeout)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := &Notifier{
		o: o, v: o.Vault, q: o.Vault, log: o.Logger, now: o.Now, sms: o.SMS,
		link: strings.TrimRight(o.LinkBase, "/") + "/m/",
		kick: make(chan struct{}, 1),
		rand: rand.Float64,
	}
	// In dev the log provider takes e-mail too: its mail side.
	devMail, isLog := o.SMS.(interface{ Mail() MailSender })
	switch {
	case o.Email != nil:
		n.mail, n.from = o.Email, o.Email.From()
	case isLog:
		n.mail = devMail.Mail()
		n.from = "noreply@localhost"
		if f, ok := n.mail.(interface{ From() string }); ok {
			n.from = f.From()
		}
	default:
		return nil, errors.New("notifier: no smarthost for e-mail notifications (notifier.email.smarthost)")
	}
	return n, nil
}

// FromConfig builds a Notifier from the configuration: the SMS provider
// notifier.sms names, the smarthost of notifier.email (none in dev, where
// e-mail goes to the log provider too) and the organisation's name. In dev
// idle workers look for due jobs four times a second. Each mod adjusts the
// options before New (e.g. to set ReceiptMail).
func FromConfig(cfg *config.Config, v *vault.Vault, log *slog.Logger, mods ...func(*Options)) (*Notifier, error) {
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = filepath.Dir(cfg.Vault.Path)
	}
	sms, err := NewSMSProvider(cfg.Notifier.SMS, dataDir)
	if err != nil {
		return nil, err
	}
	o := Options{
		Vault:     v,
		Workers:   cfg.Notifier.Workers,
		MaxAge:    cfg.Notifier.MaxAge.Duration,
		LinkBase:  cfg.Notifier.LinkBase,
		OrgName:   cfg.Organisation.Name,
		SMSSender: cfg.Organisation.SMSSender,
		SMS:       sms,
		ReportURL: cfg.Notifier.SMS.DeliveryReportURL,
		Logger:    log,
		Lease:     cfg.Vault.Lease.Duration,
	}
	if e := cfg.Notifier.Email; e.Smarthost != "" {
		if o.Email, err = NewSMTPSender(SMTPOptions{Addr: e.Smarthost, Username: e.Username, Password: e.Password, From: e.From}); err != nil {
			return nil, fmt.Errorf("notifier.email: %w", err)
		}
	}
	if cfg.Dev {
		o.PollEvery = 250 * time.Millisecond
		o.SendTimeout = devSendTimeout
	}
	for _, mod := range mods {
		mod(&o)
	}
	return New(o)
}

// DevOutbox is the /dev/outbox page when the SMS provider serves one (the
// log provider), else nil.
func (n *Notifier) DevOutbox() http.Handler {
	h, _ := n.sms.(http.Handler)
	return h
}

// Kick wakes the workers to look for due jobs now. It never blocks. The
// store wakes them anyway once a job is queued, on whichever node
// (vault.ChannelOutbox, which Run listens to), so a notification does not
// wait for the next poll; smtpd and the API (through cmd) call Kick after
// each accepted message too, which only spares this node the wake-up's
// round trip through the store.
func (n *Notifier) Kick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// Run sends notifications until ctx ends; then it stops claiming, lets the
// sends in flight finish (each bounded by SendTimeout) and record their
// outcome, gives the jobs claimed but not yet started back, and returns. A
// job it could not finish is sent at the next start (at once on a bbolt
// file, and on a shared store with the same node.id; else by any node once
// its lease has passed). Only one Run may be active per vault (per node on
// a shared store: nodes take different jobs, vault.ClaimJobs).
//
// One dispatcher claims due jobs for the workers, up to Workers ahead of
// them, so that a worker that finishes a job starts the next at once rather
// than after a claim's commit. The same room (4 × Workers) takes the jobs
// this node's accepts write born leased (vault.Handoff), which the workers
// take straight from the handoff: those need no claim. The dispatcher
// claims only after a wake-up or a poll, and only when vault.JobsDue says
// a job is due, so that it sets no room aside in vain while a stream of
// accepts hands their jobs over. Jobs handed over and not started at the
// end go back like claimed ones, and so does a job whose lease has less
// than a send's time left when a worker takes it (startable).
func (n *Notifier) Run(ctx context.Context) error {
	if !n.running.CompareAndSwap(false, true) {
		return errors.New("notifier: already running")
	}
	defer n.running.Store(false)
	released, err := n.q.ReleaseClaims(n.now())
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	if released > 0 {
		n.log.Info("notifier: jobs the previous run had claimed are due again", "jobs", released)
	}

	workers := n.o.Workers
	// Room for 4*workers jobs claimed or handed over and not yet finished:
	// queued or in a worker. Accept's jobs born leased take room in it
	// (vault.Handoff); a claim takes half of what is free at most, so that
	// accepts find room while it waits for its commit. A worker gives the
	// room back as it finishes a job (its outcome recorded, which waits for
	// a commit), and wakes the dispatcher. Workers take the jobs handed
	// over straight from the handoff. With room for 2*workers, a fifth of
	// the accepts of 8 sessions found none (BenchmarkIngest: the jobs of
	// one group commit handed over while the previous group's outcomes
	// wait for it), and their jobs took the way of claims, each a claim's
	// writes more in the committer. A job may thus wait behind more than
	// one send per worker: one whose lease has less than a send's time
	// left when a worker takes it goes back unsent (startable), so that no
	// lease runs out during its send and lets another claim send it too.
	room := 4 * workers
	handoff, err := n.v.OpenHandoff(n.o.Lease, room)
	if err != nil {
		return fmt.Errorf("notifier: %w", err)
	}
	jobs := make(chan vault.Job, room) // claimed, not yet started
	done := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				var j vault.Job
				select {
				case j = <-jobs:
				case j = <-handoff.Jobs():
				case <-stop:
					return
				}
				if n.startable(j) {
					n.process(j)
				}
				handoff.Free(1)
				select {
				case done <- struct{}{}:
				default:
				}
			}
		})
	}
	defer func() {
		// Jobs claimed or handed over but not started go back, due now.
		close(stop)
		for _, j := range handoff.Close() {
			n.giveBack(j)
		}
		for drained := false; !drained; {
			select {
			case j := <-jobs:
				n.giveBack(j)
			default:
				drained = true
			}
		}
		wg.Wait()
		n.updateDepth()
		if c, ok := capability[io.Closer](n.mail); ok {
			c.Close() // idle smarthost connections; a later Run dials anew
		}
	}()

	// Jobs queued on any node sharing the store wake the dispatcher.
	queued := n.v.Listen(ctx, vault.ChannelOutbox)
	poll := time.NewTimer(n.o.PollEvery)
	defer poll.Stop()
	var lastDepth, lastPrune, lastFault time.Time
	// claimNow: there may be due jobs to claim — at the start, after a
	// wake-up or a poll, and after a claim that filled all the room it had.
	// A job handed over or finished alone is no reason: under a stream of
	// accepts whose jobs are born leased, claims come with the polls.
	claimNow := true
	for {
		if ctx.Err() != nil {
			return nil
		}
		if claimNow {
			due, err := n.q.JobsDue(n.now())
			if err != nil && time.Since(lastFault) > time.Minute {
				lastFault = time.Now()
				n.log.Error("notifier: cannot look for due jobs", "err", err)
			}
			claimNow = due
		}
		if claimNow { // with no room, it holds until some is free
			if want := handoff.Take((handoff.Room() + 1) / 2); want > 0 {
				claimed, err := n.q.ClaimJobs(n.now(), want, n.o.Lease)
				if err != nil && time.Since(lastFault) > time.Minute {
					lastFault = time.Now()
					n.log.Error("notifier: cannot claim jobs", "err", err)
				}
				handoff.Free(want - len(claimed))
				for _, j := range claimed {
					jobs <- j // room: the channel holds all
				}
				claimNow = len(claimed) == want
			}
		}
		if time.Since(lastDepth) > 250*time.Millisecond {
			lastDepth = time.Now()
			n.updateDepth()
		}
		if time.Since(lastPrune) > 6*time.Hour {
			lastPrune = time.Now()
			if k, err := n.pruneDeliveries(n.now().Add(-deliveryMemory)); err != nil {
				n.log.Error("notifier: cannot prune delivery ids", "err", err)
			} else if k > 0 {
				n.log.Info("notifier: forgot old provider ids", "ids", k)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.kick:
			claimNow = true
		case <-queued:
			claimNow = true
		case <-done:
		case <-poll.C:
			claimNow = true
			poll.Reset(n.o.PollEvery)
		}
	}
}

// startable tells whether a worker may start an attempt at j now: the
// lease of its claim (or of its birth, handed over) has at least
// SendTimeout left, so it outlasts the attempt. If not, the job goes back
// unsent, due now, for a claim with a lease of its own; if that fails, its
// lease brings it back.
func (n *Notifier) startable(j vault.Job) bool {
	now := n.now()
	if !j.Leased || !j.Due.Before(now.Add(n.o.SendTimeout)) {
		return true
	}
	n.log.Warn("notifier: a job waited for a worker until its lease had less than a send's time left; given back unsent", "job", j.ID, "kind", j.Kind, "lease_ends", j.Due)
	n.giveBack(j)
	return false
}

// giveBack ends the lease of a job not started, due now for any claim.
func (n *Notifier) giveBack(j vault.Job) {
	if err := n.q.RetryJob(j.ID, j.Lease, n.now(), j.LastError, false); err != nil {
		n.log.Error("notifier: cannot give a claimed job back; it is due again when its lease runs out, or at the next start", "job", j.ID, "err", err)
	}
}

func (n *Notifier) updateDepth() {
	if k, err := n.q.OutboxLen(); err == nil {
		queueDepth.Set(float64(k))
	}
}

// IdempotencyKey is the key a job's every attempt carries to providers: one
// per message and recipient.
func IdempotencyKey(j vault.Job) string {
	return "sigill-" + j.MessageID + "-" + strconv.Itoa(j.Recipient)
}

// kindWebhook is api.JobWebhook (the REST API's hook queues it): an event
// to POST to a client's webhook endpoint.
const kindWebhook = "webhook"

// kindReceipt is mailbox.JobReceipt (receipts/mailbox, which queues it): a
// receipt to mail to its sender.
const kindReceipt = "receipt"

// senderLine names who a notification is from: the organisation and the
// sender the gateway vouches for (the staff account, or the relay's envelope
// sender), "Region Exempel (anna@region.se)"; never the message's From
// header, which only says what the sender wrote. The organisation alone when
// there is none (a relayed message with a null sender), and for a job queued
// before jobs carried the vouched sender, when its message is gone.
func (n *Notifier) senderLine(j vault.Job) string {
	vouched := j.Vouched
	if !j.HasVouched { // a job queued before jobs carried it
		l, err := n.v.LetterByID(j.MessageID, j.Recipient)
		if err != nil {
			return n.o.OrgName
		}
		vouched = l.Vouched()
	}
	if vouched == "" {
		return n.o.OrgName
	}
	return n.o.OrgName + " (" + vouched + ")"
}

// process makes one attempt at a job and records its outcome.
func (n *Notifier) process(j vault.Job) {
	switch j.Kind {
	case vault.JobNotify:
	case kindReceipt:
		n.processReceipt(j)
		return
	case kindWebhook:
		n.processWebhook(j)
		return
	default:
		n.finish(j, "none", "", Permanent(fmt.Errorf("unknown job kind %q", j.Kind)), 0)
		return
	}
	link := n.link + j.Token
	who := n.senderLine(j)
	lang := j.Lang
	if lang == "" {
		lang = "sv"
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.o.SendTimeout)
	defer cancel()
	start := time.Now()
	var (
		provider, id string
		err          error
	)
	switch j.Channel {
	case addressing.SMS:
		provider = n.sms.Name()
		sms := SMS{
			To: j.To, From: n.o.SMSSender, Text: SMSText(lang, who, j.Errand, link),
			IdempotencyKey: IdempotencyKey(j), ReportURL: n.o.ReportURL,
		}
		ctx = WithOrigin(ctx, Origin{MessageID: j.MessageID, Link: link})
		if done, lerr := n.reconcile(j, sms); done {
			return
		} else if lerr != nil {
			err = lerr
			break
		}
		if n.endIfWithdrawn(j, provider) {
			return
		}
		id, err = n.sms.Send(ctx, sms)
	case addressing.Email:
		provider = n.mail.Name()
		var m *builtMail
		m, err = buildMail(mailParams{
			JobID: j.ID, MessageID: j.MessageID, From: n.from, OrgName: n.o.OrgName, SentBy: who,
			To: j.To, Lang: lang, Errand: j.Errand, Link: link, Date: n.now(),
		})
		if err != nil {
			err = Permanent(err)
		} else if n.endIfWithdrawn(j, provider) {
			return
		} else {
			ctx = WithOrigin(ctx, Origin{MessageID: j.MessageID, Link: link, Text: m.text})
			id, err = n.mail.SendMail(ctx, m.Mail)
		}
	default:
		provider, err = "none", Permanent(fmt.Errorf("unknown channel %q", j.Channel))
	}
	took := time.Since(start)
	if err != nil {
		// Whatever a provider answered, the token goes no further.
		perm, doubt := IsPermanent(err), IsInDoubt(err)
		err = errors.New(scrub(err.Error(), j.Token))
		if perm {
			err = Permanent(err)
		}
		if doubt {
			err = InDoubt(err)
		}
	}
	n.finish(j, provider, id, err, took)
}

// reconcile asks the provider, when it keeps a log (Reconciler), whether it
// already took the message of a job in doubt. done: it had, and that is now
// recorded as the job's outcome. A lookup that fails is the attempt's
// error, to be retried with backoff like a failed send, except at the last
// attempt (max_age) or when asking again cannot help: then the message is
// sent again unreconciled, since a notification twice is better than none.
func (n *Notifier) reconcile(j vault.Job, m SMS) (done bool, err error) {
	rec, ok := capability[Reconciler](n.sms)
	if !ok || j.InDoubtSince.IsZero() {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.o.SendTimeout)
	defer cancel()
	sent, found, err := rec.Lookup(ctx, m, j.InDoubtSince)
	provider := n.sms.Name()
	log := n.jobLog(j, provider)
	switch {
	case err != nil:
		perm := IsPermanent(err)
		err = errors.New(scrub(err.Error(), j.Token))
		if perm || !n.now().Before(j.Created.Add(n.o.MaxAge)) {
			log.Warn("notifier: cannot ask the provider whether it has the message in doubt; sending it again", "err", err)
			return false, nil
		}
		return false, fmt.Errorf("looking for the message in doubt: %w", err)
	case !found:
		log.Info("notifier: the provider has no record of the message in doubt; sending it again", "in_doubt_since", j.InDoubtSince)
		return false, nil
	}
	cerr := n.q.CompleteJob(j.ID, j.Lease, notified(j, provider, sent.ID))
	n.count(provider, resultFound, 0) // a lookup, not a send: no send time
	switch {
	case errors.Is(cerr, vault.ErrNotFound):
		log.Warn("notifier: the provider had the message in doubt, but the job was gone meanwhile (its message expired)", "provider_id", sent.ID)
		return true, nil
	case errors.Is(cerr, vault.ErrLeaseLost):
		log.Warn("notifier: the provider had the message in doubt, but this claim's lease ran out and another has the job; the outcome is the other's to record", "provider_id", sent.ID)
		return true, nil
	case cerr != nil:
		log.Error("notifier: the provider had the message in doubt, but that was not recorded; it will be looked up again", "provider_id", sent.ID, "err", cerr)
		return true, nil
	}
	log.Info("notifier: the provider had the message in doubt; recorded as notified, not sent again", "provider_id", sent.ID, "status", sent.Status.String())
	// A delivery report posted while sigill was down found no id to match.
	if sent.Status.Final() {
		if _, err := n.recordDelivery(provider, sent.ID, sent.Status, sent.At); err != nil {
			log.Error("notifier: cannot record the provider's delivery status", "provider_id", sent.ID, "err", err)
		}
	}
	return true, nil
}

// processReceipt mails a receipt job's message to the sender.
func (n *Notifier) processReceipt(j vault.Job) {
	provider := n.mail.Name()
	if n.o.ReceiptMail == nil {
		n.finish(j, provider, "", errors.New("no receipt builder is wired (Options.ReceiptMail)"), 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.o.SendTimeout)
	defer cancel()
	start := time.Now()
	raw, err := n.o.ReceiptMail(ctx, j)
	if errors.Is(err, vault.ErrNotFound) {
		err = Permanent(err)
	}
	var id string
	if err == nil {
		// A null reverse-path: nothing bounces back about a receipt.
		ctx = WithOrigin(ctx, Origin{MessageID: j.MessageID})
		id, err = n.mail.SendMail(ctx, &Mail{To: j.To, MIME: raw})
	}
	n.finish(j, provider, id, err, time.Since(start))
}

// processWebhook makes one attempt at delivering a webhook job.
func (n *Notifier) processWebhook(j vault.Job) {
	if n.o.Webhook == nil {
		n.finish(j, webhookProvider, "", errors.New("no webhook delivery is wired (Options.Webhook)"), 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.o.SendTimeout)
	defer cancel()
	start := time.Now()
	err := n.o.Webhook(ctx, j)
	if errors.Is(err, vault.ErrNotFound) {
		err = Permanent(err)
	}
	n.finish(j, webhookProvider, "", err, time.Since(start))
}

// finish records an attempt's outcome: notified, a retry at the backoff's
// time (never after the deadline, so the last attempt is made at
// Created+MaxAge), or failed (a permanent error, or a failure at or after
// the deadline).
func (n *Notifier) finish(j vault.Job, provider, id string, err error, took time.Duration) {
	if err == nil {
		// The crash window closes with this commit: record first, then
		// anything else.
		cerr := n.q.CompleteJob(j.ID, j.Lease, notified(j, provider, id))
		n.count(provider, resultOK, took)
		log := n.jobLog(j, provider)
		switch {
		case errors.Is(cerr, vault.ErrNotFound):
			log.Warn("notifier: sent, but the job was gone meanwhile (its message expired)", "provider_id", id)
			return
		case errors.Is(cerr, vault.ErrLeaseLost):
			// Fencing: this attempt outlasted its lease and another claim
			// has the job (it will find this send when it asks the
			// provider, the job being in doubt); its outcome is the
			// other's to record.
			log.Warn("notifier: sent, but this claim's lease ran out and another has the job; not recorded over it", "provider_id", id)
			return
		}
		if cerr != nil {
			// The window, without the crash: the provider has it, the vault
			// does not know. The lease brings the job back.
			log.Error("notifier: sent, but the outcome was not recorded; it will be sent again", "provider_id", id, "err", cerr)
			return
		}
		log.Info("notifier: notified", "provider_id", id, "seconds", took.Seconds())
		if j.Kind == kindReceipt {
			receiptsSent.Inc()
		}
		return
	}
	log := n.jobLog(j, provider)
	// A provider's or smarthost's answer may quote a personal number (an
	// address such as 199908072391@example.se); the reason is logged and
	// kept in the failed event, whose receipt lasts in a mailbox.
	reason := addressing.MaskPersonalNumbers(err.Error())
	now := n.now()
	deadline, backoff := j.Created.Add(n.o.MaxAge), Backoff
	if j.Kind == kindWebhook {
		deadline, backoff = j.Created.Add(WebhookMaxAge), WebhookBackoff
	}
	switch {
	case n.endIfWithdrawn(j, provider):
		// Neither failed nor retried: the sender withdrew it meanwhile.
	case IsPermanent(err):
		n.count(provider, resultFailed, took)
		log.Warn("notifier: refused for good", "err", reason)
		n.fail(log, j, reason)
	case !now.Before(deadline):
		n.count(provider, resultFailed, took)
		reason = fmt.Sprintf("gave up after %d attempts in %v: %s", j.Attempts, deadline.Sub(j.Created), reason)
		log.Warn("notifier: giving up", "err", reason)
		n.fail(log, j, reason)
	default:
		n.count(provider, resultRetry, took)
		next := now.Add(backoff(j.Attempts, n.rand()))
		if next.After(deadline) {
			next = deadline
		}
		// In doubt: the provider may have it, and the next attempt asks first.
		log.Warn("notifier: will retry", "err", reason, "at", next, "in_doubt", IsInDoubt(err))
		if rerr := n.q.RetryJob(j.ID, j.Lease, next, reason, IsInDoubt(err)); rerr != nil {
			log.Error("notifier: cannot schedule the retry; the job comes back after its lease", "err", rerr)
		}
	}
}

func (n *Notifier) count(provider, result string, took time.Duration) {
	sendsTotal.WithLabelValues(provider, result).Inc()
	if took > 0 {
		sendSeconds.WithLabelValues(provider).Observe(took.Seconds())
	}
}

func (n *Notifier) jobLog(j vault.Job, provider string) *slog.Logger {
	return n.log.With("job", j.ID, "kind", j.Kind, "message", j.MessageID, "recipient", j.Recipient,
		"channel", string(j.Channel), "to", maskTo(j.Channel, j.To), "provider", provider, "attempt", j.Attempts)
}

func (n *Notifier) fail(log *slog.Logger, j vault.Job, reason string) {
	if err := n.q.CompleteJob(j.ID, j.Lease, failed(j, reason)); err != nil {
		log.Error("notifier: cannot record the failure; the job comes back after its lease", "err", err)
	}
}
