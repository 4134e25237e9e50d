// Package notifier owns the outbox workers: it tells each recipient that a
// secure message waits — by SMS through a provider (46elks, a JSON webhook,
// or the dev log) or by e-mail through the smarthost — with the
// organisation's name and the sender the gateway vouches for (the staff
// account, or the relay's envelope sender; never the From header), the
// errand and the link, never anything of the body;
// it retries with backoff until notifier.max_age and then records the
// failure; it turns providers' delivery reports into events; and it mails
// receipt jobs to senders when receipts are mailed.
//
// # Jobs
//
// Accept queues one "notify" job per recipient in the vault's outbox, with
// the link token sealed under the key file. The vault keeps the queue
// (vault.Outbox: job records, leases with a fencing generation); the
// notifier owns its policy — the lease's length, backoff and max_age, what
// each outcome is called (outbox.go) — and the delivery records, which its
// vault hook (Hook) keeps in its own table in the transaction of each
// "notified" event, and which turn a provider's first final delivery
// report into a "delivered" or "failed" event (deliveries.go). cmd opens
// the vault with Hook; New refuses a vault without it. Run's dispatcher claims due jobs
// (ClaimJobs: in one committed transaction each claimed job gets a lease,
// its lease generation and its attempt counted, so no two workers take one
// job) as workers are free — and takes the jobs of messages accepted on
// its own node from memory, born leased by it in the accept's own
// transaction (vault.Handoff), while it has room for them, so that a job
// costs no claim commit — and each worker makes one attempt and records
// its outcome, carrying the claim's generation, in one transaction through
// the vault's group committer:
//
//   - accepted by the provider: CompleteJob with a "notified" outcome — the
//     event with the provider's id (which the hook keeps for delivery
//     reports), the job and its sealed token deleted;
//   - a temporary failure: RetryJob at now + Backoff(attempt) — 30 s ·
//     2^(attempt−1), at most an hour, equal jitter — but never after
//     Created + max_age, so the last attempt is made at max_age;
//   - a permanent failure (see SMSProvider), or a failure at or after
//     max_age: CompleteJob with a "failed" outcome — the event (the
//     sender's failure receipt follows from it) and the job deleted.
//
// An outcome whose claim has lost its lease (it ran out and another claim
// took the job, or the job was released after a restart) is refused
// (vault.ErrLeaseLost) and logged: a worker that wakes up late never
// records over another's work; the other claim, the job being in doubt,
// asks the provider first.
//
// Webhook jobs (kind "webhook", queued by the REST API's hook for each
// event an endpoint subscribed to) are delivered by Options.Webhook, which
// cmd wires to the api package, on their own schedule (WebhookBackoff:
// 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h, until WebhookMaxAge,
// 26 h, whatever notifier.max_age says); they record no event. A job in
// doubt is delivered again with the same webhook-id, by which the
// receiver knows it (Standard Webhooks 1.0).
//
// Every attempt at a job carries the same idempotency key
// ("sigill-<message id>-<recipient>") to providers that take one (the
// webhook, in a header and the body), and e-mails keep the same Message-ID.
//
// # Jobs in doubt: at least once, and twice only when the provider cannot tell
//
// A notification could be sent twice if the process dies after the
// provider has taken it and before the outcome's transaction is on disk
// (one provider round trip and a group commit, at most 10 ms later), or if
// the provider's answer is lost (a time-out or a broken connection after
// the request was written: an InDoubtError). Such a job is in doubt
// (vault.Job.InDoubtSince): ReleaseClaims marks the jobs a dead process of
// this node had claimed, a claim marks a job whose lease ran out (another
// node's too: a dead node's jobs are taken over once vault.lease passed), and RetryJob in doubt a
// job whose answer was lost. Before an attempt at a job in doubt, the
// notifier asks the provider, if it keeps a log (Reconciler), whether it
// already has the message:
//
//   - 46elks: GET on the SMS URL (/a1/sms), 46elks' log of sent SMS,
//     filtered by the recipient's number and the time since the claim that
//     ended in doubt (less a minute for clock skew), page by page; an
//     outgoing SMS with the number and the job's exact text (which holds its
//     link) is the job's. The text is compared, never logged.
//   - the log provider (sigill dev): outbox.jsonl, by number and text.
//
// If the provider has it, the job is recorded as notified under the
// provider's id (and, if the provider already knows, as delivered or
// failed), and not sent again; the metric result is "found". If it has no
// record, the job is sent again. A lookup that fails is retried with the
// job's backoff, but it never stops a notification: at max_age, or when
// the provider refuses the lookup for good (400, 413, 422), the job is sent
// again unreconciled — a notification twice is better than none.
//
// The webhook keeps no log sigill can ask; its contract is the key
// (see Webhook): a job in doubt is sent again with its key, and the
// receiver, which must remember keys for at least max_age, answers a key
// it has seen with its first id and sends nothing. E-mail through a
// smarthost is sent again with the same Message-ID.
//
// What remains: a send taken by a provider that keeps no log and a receiver
// that ignores the key; and 46elks' log answering before it lists an SMS it
// has just taken (sigill asks only after a restart or a retry's backoff,
// seconds later at the least). Jobs whose "notified" is on disk are never
// sent again: the job is gone in the same transaction.
//
// # Providers
//
// The notifier asks its providers through small interfaces, never their
// concrete types: SMSProvider (Send) and MailSender (SendMail) send;
// Reconciler looks a job in doubt up; ReportParser reads the provider's own
// delivery reports (46elks' form with its key, the webhook's signed JSON)
// and maps its status words onto the notifier's DeliveryStatus; Checker
// tells /readyz whether it is reachable. Reports are recorded under the name
// the provider declares. The dev log provider is a decorator: it writes each
// send to outbox.jsonl (with the job's message and link from the send's
// Origin, which the notifier puts in its context) and hands it on to the
// provider it wraps, or to none in sigill dev; what it does not do itself is
// found through its Unwrap.
//
// # Wiring
//
// FromConfig builds a Notifier from the configuration. cmd runs Run in a
// goroutine until shutdown (it returns once the sends in flight have been
// recorded; close the vault after it), calls Kick after every accepted
// message, serves ReportHandler at POST /hooks/sms on the reader listener,
// and in dev serves DevOutbox() at GET /dev/outbox there. With
// receipts.mail_to_sender it sets Options.ReceiptMail (through FromConfig's
// mods) to build a receipt job's message: mailbox.Store.Receipt(j.Event), then
// receipts.Build. Metrics
// (sigill_notifier_queue_depth, sigill_notifier_sends_total{provider,result},
// sigill_notifier_send_seconds{provider}, sigill_notifier_receipts_sent_total)
// are registered with promauto. Checks gives /readyz a check of the SMS
// provider and the smarthost that sends nothing.
//
// Logs name jobs, message ids, providers and provider ids, and recipients
// masked (+4670123****, a***@example.org); never a token, link or body.
package notifier
