// Package api owns the REST API v1 on the staff listener (/api/v1/), as
// the contract in the spec's api.md fixes it and the OpenAPI 3.1 document
// it serves (openapi.json, written by hand and embedded) describes in
// full: authentication by API key (package apikey) and scope, sending a
// secure message, reading its status, withdrawing it (revoke.go:
// vault.RevokeRecipients), changing its lifetime (expiry.go:
// vault.ChangeExpiry, under the scope that withdraws, since both decide
// how long it can be read), reading the recipients' answers (replies.go:
// mailbox.Store.Answers, until the message expires) — all by the key's
// account, on its own messages only — and signed webhooks. It speaks HTTP and JSON; a
// message it sends is built as MIME and handed to the vault through
// package intake, exactly as SMTP's DATA hands one over, so the reader
// page, receipts and IMAP cannot tell the two apart.
//
// Every error is an RFC 9457 problem (application/problem+json), made in
// one place (problem.go); a request with invalid fields gets one 422 that
// names every fault (errors[{field, detail}]), and nothing is stored.
//
// # Idempotency
//
// POST /api/v1/messages requires an Idempotency-Key. Its record (the
// SHA-256 of the request body, byte for byte, and the response) is written
// by vault.Incoming.Within in the very transaction that accepts the
// message: a 201 and its record are on disk together or not at all, so a
// crash can neither lose the record of a message that was sent nor keep a
// record of one that was not. The same key with the same body replays the
// stored response (Idempotent-Replayed: true); with another body it is
// 422; while the first request with the key is still running in this
// process, 409. Keys are per API key. Only a 201 consumes a key: a request
// refused (4xx) or failed (5xx) stored nothing and may be sent again with
// the same key. Records live as long as their message's audit trail
// (vault.audit_retention, far over the 24 hours promised): the hook's
// Purging removes them with its events.
//
// # Tables
//
// api_idempotency (API key id ‖ 0 ‖ Idempotency-Key → the record as JSON),
// api_webhooks (account ‖ 0 ‖ endpoint id → the endpoint with its secrets,
// as JSON; kept in clear, since signing needs them) and api_messages
// (message id → who sent it through which key, its reference and
// idempotency key, as JSON). The reading side's indexes (each owner's
// messages newest first, each owner's events), filled for every message
// whatever door it came through, are package sentindex's, which the staff
// web reads too; the API files a message's reference there in the
// accept's transaction.
//
// # Reading
//
// GET /api/v1/messages/{id} and GET /api/v1/messages answer the key's
// account's messages (those it sent, by SMTP or the API: vault.Letter.Owner),
// another account's being 404. GET /api/v1/events is the account's events
// in the vault's order; its cursors are event sequence numbers, so reading
// again from one gives the same events. A page is found by scanning the
// account's index from its start (the store's Table offers prefix scans,
// not seeks): fine for thousands of messages per account, to be given a
// seek when an account holds far more.
//
// # Administrators
//
// GET /api/v1/audit (audit:read) is the whole audit trail of a period or
// of one personal number (pnr), and POST /api/v1/gdpr/export, GET and
// POST /api/v1/gdpr/erasures and POST /api/v1/gdpr/erasures/{id}/approve
// (gdpr:admin) a data subject's requests: package audit answers them as
// it answers the CLI (audit.go), with the key's account as the actor;
// two-person approval (Options.TwoPerson) compares accounts.
//
// # Webhooks
//
// Endpoints are the account's (webhooks.go); the hook queues one outbox
// job (JobWebhook) per subscribed endpoint in each event's transaction,
// and the notifier runs it through Deliverer (deliver.go) on Standard
// Webhooks' retry schedule for 26 hours. Every connection passes the SSRF
// guard (internal/egress, api.webhook_allow). Rotation keeps the previous
// secret signing beside the new one for 24 hours.
//
// # Metrics
//
// sigill_api_requests_total{route,code}, sigill_api_messages_accepted_total,
// sigill_api_idempotent_replays_total and
// sigill_api_webhook_attempts_total{outcome}; webhook retries and give-ups
// are the notifier's sigill_notifier_sends_total{provider="api_webhook"}.
package api
