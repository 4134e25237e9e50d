package vault

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"sigill/addressing"
	"sigill/vault/kv"
)

// JobNotify is the kind of the job Accept queues per recipient: tell the
// recipient that a message waits.
const JobNotify = "notify"

// Outbox is the storage core's queue of the notifier's jobs: what an engine
// (bbolt here; PostgreSQL with FOR UPDATE SKIP LOCKED) keeps atomically, so
// that no two workers — in one process or on several nodes — take one job,
// and a worker that wakes up late cannot record over another's work. Jobs
// are written by Accept (a "notify" job per recipient, its token sealed, in
// the accept's own transaction: due at once, or born leased by this node
// for its notifier's Handoff, handoff.go) and with receipts; everything else — which
// jobs to claim how often, the lease's length, backoff and max_age, what an
// outcome is called and what a provider's words mean — is the notifier's.
//
//   - ClaimJobs leases up to max due jobs until now+lease, each in one
//     transaction with its attempt counted and its lease generation
//     (Job.Lease) counted up; a job whose lease ran out is claimable again,
//     in doubt.
//   - JobsDue tells whether a claim would find a job due, without a lease.
//   - CompleteJob and RetryJob record an outcome, fenced: they carry the
//     generation of the claim they come from, and are refused with
//     ErrLeaseLost once another claim (or ReleaseClaims) has the job.
//   - ReleaseClaims gives back the jobs this node leased before it
//     restarted (on a bbolt file, which one process holds: every lease), in
//     doubt. Another node's leases are taken when they run out: ClaimJobs
//     skips the jobs other nodes' claims hold locked (kv.Range.SkipLocked),
//     and takes those whose lease has passed.
//
// The delivery records (a provider's id → its notification) are the
// notifier's own, kept by its hook on the notified event.
//
// *Vault implements it.
type Outbox interface {
	ClaimJobs(now time.Time, max int, lease time.Duration) ([]Job, error)
	JobsDue(now time.Time) (bool, error)
	CompleteJob(id, lease uint64, o Outcome) error
	RetryJob(id, lease uint64, due time.Time, reason string, inDoubt bool) error
	ReleaseClaims(now time.Time) (int, error)
	PendingJobs() ([]Job, error)
	OutboxLen() (int, error)
}

var _ Outbox = (*Vault)(nil)

// Job is one unit of the notifier's work, as PendingJobs and ClaimJobs
// return it: Token is the recipient's link token, unsealed with its outbox
// key from the key store ("" for kinds that carry none). Attempts counts the claims so far
// (ClaimJobs counts the claim it makes); LastError is the reason RetryJob
// gave for the previous attempt; Leased tells that a claim holds the job
// and Due is the end of its lease. Lease is the generation of the latest
// claim, which its outcome carries (fencing, see Outbox). Event is the
// event a receipt job mails.
//
// InDoubtSince, when set, is the start of a claim that ended without an
// outcome recorded (its process died, or its lease ran out): a send may have
// left then and reached the provider. The notifier asks the provider about
// the job before sending it again. It stays set until the job is done.
type Job struct {
	ID        uint64
	MessageID string
	Recipient int
	Kind      string
	Channel   addressing.Channel
	To, Lang  string
	Errand    string
	Token     string
	Attempts  int
	Due       time.Time
	Created   time.Time
	LastError string
	Leased    bool
	Lease     uint64
	Node      string // the node of the latest claim
	Event     uint64

	InDoubtSince time.Time

	// Vouched is the message's VouchedSender, which the notification
	// names, when HasVouched: Accept puts it in every notify job so that
	// the notifier need not read the message's records for it. Jobs queued
	// before it carry none.
	Vouched    string
	HasVouched bool

	// known is what the vault knew of the job when it gave it out
	// (jobknown.go); nil for PendingJobs' jobs.
	known *jobKnown
}

// jobRecord is a Job as stored in the outbox bucket under its big-endian id.
// The token is sealed (AES-256-GCM) under the outbox key Epoch of the key
// store (keystore.go), which is destroyed once no pending job is sealed
// under it: deleting the job frees its page but leaves its bytes in the
// file, and only the key's end makes them unreadable. A receipt job carries
// no token (Epoch 0, no SealedToken).
type jobRecord struct {
	MessageID   string             `json:"message"`
	Recipient   int                `json:"recipient"`
	Kind        string             `json:"kind"`
	Channel     addressing.Channel `json:"channel"`
	To          string             `json:"to"`
	Lang        string             `json:"lang,omitempty"`
	Errand      string             `json:"errand"`
	Epoch       uint64             `json:"epoch,omitempty"`
	SealedToken []byte             `json:"sealed_token,omitempty"`
	Attempts    int                `json:"attempts"`
	Due         time.Time          `json:"due"`
	Created     time.Time          `json:"created"`
	// Leased is set by ClaimJobs: Due is then the end of the lease, not a
	// retry time. ReleaseClaims makes leased jobs due at once.
	Leased    bool   `json:"leased,omitempty"`
	Lease     uint64 `json:"lease,omitempty"` // generation: counted up by every claim and release
	Node      string `json:"node,omitempty"`  // the node whose claim was the latest (Options.NodeID)
	LastError string `json:"last_error,omitempty"`
	Event     uint64 `json:"event,omitempty"` // the event a job of another kind is about (Tx.QueueJob)
	// Claimed is when the latest claim began; InDoubtSince is Job's.
	Claimed      time.Time `json:"claimed,omitzero"`
	InDoubtSince time.Time `json:"in_doubt_since,omitzero"`
	// Vouched is Job.Vouched; nil in a job queued without it.
	Vouched *string `json:"vouched,omitempty"`
}

// PendingJobs returns every job in the outbox, oldest first, with its token
// unsealed.
func (v *Vault) PendingJobs() ([]Job, error) {
	var jobs []Job
	v.keys.openMu.RLock()
	defer v.keys.openMu.RUnlock()
	err := v.view(func(tx kv.Tx) error {
		return tx.Bucket(bOutbox).Range(kv.Range{}, func(k, b []byte) error {
			j, err := v.decodeJob(k, b)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("vault: pending jobs: %w", err)
	}
	return jobs, nil
}

func (v *Vault) decodeJob(k, b []byte) (Job, error) {
	j, _, err := v.decodeJobRecord(k, b)
	return j, err
}

// decodeJobRecord is decodeJob, returning the record decoded too.
func (v *Vault) decodeJobRecord(k, b []byte) (Job, jobRecord, error) {
	if len(k) != 8 {
		return Job{}, jobRecord{}, fmt.Errorf("outbox key %x is not a job id", k)
	}
	id := binary.BigEndian.Uint64(k)
	var r jobRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Job{}, jobRecord{}, fmt.Errorf("job %d: %w", id, err)
	}
	var token string
	if r.Kind == JobNotify { // the only kind that carries a token
		k := v.keys.outboxKey(r.Epoch)
		if k == nil {
			return Job{}, jobRecord{}, fmt.Errorf("job %d: its outbox key %x is not in the key store %s", id, r.Epoch, v.opt.KeyStore)
		}
		raw, err := openToken(k, r.SealedToken, r.MessageID, r.Recipient)
		if err != nil {
			return Job{}, jobRecord{}, fmt.Errorf("job %d: %w", id, err)
		}
		token = tokenEncoding.EncodeToString(raw)
		clear(raw)
	}
	return Job{
		ID: id, MessageID: r.MessageID, Recipient: r.Recipient, Kind: r.Kind,
		Channel: r.Channel, To: r.To, Lang: r.Lang, Errand: r.Errand, Token: token,
		Attempts: r.Attempts, Due: r.Due, Created: r.Created, LastError: r.LastError, Leased: r.Leased, Lease: r.Lease, Node: r.Node, Event: r.Event,
		InDoubtSince: r.InDoubtSince,
		Vouched:      ptrValue(r.Vouched), HasVouched: r.Vouched != nil,
	}, r, nil
}

func ptrValue[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}
