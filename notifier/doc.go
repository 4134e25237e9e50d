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
// the link token sealed under the key file. Run's dispatcher claims due jobs
// (vault.ClaimJobs: in one committed transaction each claimed job gets a
// lease and its attempt counted, so no two workers take one job) as workers
// are free, and each worker makes one attempt and records its outcome in one
// transaction through the vault's group committer:
//
//   - accepted by the provider: CompleteJob — a "notified" event with the
//     provider's id, the job and its sealed token deleted, and the id kept
//     for delivery reports;
//   - a temporary failure: RetryJob at now + Backoff(attempt) — 30 s ·
//     2^(attempt−1), at most an hour, equal jitter — but never after
//     Created + max_age, so the last attempt is made at max_age;
//   - a permanent failure (see SMSProvider), or a failure at or after
//     max_age: FailJob — a "failed" event (the sender's failure receipt
//     follows from it) and the job deleted.
//
// Every attempt at a job carries the same idempotency key
// ("sigill-<message id>-<recipient>") to providers that take one (the
// webhook, in a header and the body), and e-mails keep the same Message-ID.
//
// # The one window where a crash resends
//
// A notification is sent twice only if the process dies after the provider
// has accepted it and before CompleteJob's transaction is on disk: from the
// moment the request leaves for the provider until that commit. The job is
// then still in the outbox, leased; at the next start ReleaseClaims makes it
// due at once and it is sent again — with the same idempotency key, so a
// webhook that honours the key drops the repeat, while 46elks, which takes
// none, sends a second SMS (an e-mail repeats its Message-ID). The window is
// kept to one provider round trip, at most 10 ms, and two group commits:
// the outcome is recorded the moment the answer arrives, before anything else
// (logging comes after), in a small transaction that, while mail is coming
// in, joins the next commit an accept starts (usually within a millisecond
// or two) or commits on its own 10 ms later, and otherwise commits at once
// (the vault's ride-along writes, which spare a lone sender two extra
// commits per message). Jobs whose "notified" is on
// disk are never sent again: the job is gone in the same transaction. (Two
// cousins of the window, without a crash: a send whose answer is lost to a
// time-out is retried, and so is one whose CompleteJob fails; both carry the
// same key.)
//
// # Wiring
//
// FromConfig builds a Notifier from the configuration. cmd runs Run in a
// goroutine until shutdown (it returns once the sends in flight have been
// recorded; close the vault after it), calls Kick after every accepted
// message, serves ReportHandler at POST /hooks/sms on the reader listener,
// and in dev serves DevOutbox() at GET /dev/outbox there. With
// receipts.mail_to_sender it sets Options.ReceiptMail (through FromConfig's
// mods) to build a receipt job's message: vault.ReceiptEvent(j.Event), then
// receipts.Build. Metrics
// (sigill_notifier_queue_depth, sigill_notifier_sends_total{provider,result},
// sigill_notifier_send_seconds{provider}, sigill_notifier_receipts_sent_total)
// are registered with promauto. Checks gives /readyz a check of the SMS
// provider and the smarthost that sends nothing.
//
// Logs name jobs, message ids, providers and provider ids, and recipients
// masked (+4670123****, a***@example.org); never a token, link or body.
package notifier
