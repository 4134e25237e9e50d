// Package api owns the REST API v1 on the staff listener (/api/v1/), as
// the contract in the spec's api.md fixes it and the OpenAPI 3.1 document
// it serves (openapi.json, written by hand and embedded) describes in
// full: authentication by API key (package apikey) and scope, sending a
// secure message, and reading its status. It speaks HTTP and JSON; a
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
// api_idempotency (API key id ‖ 0 ‖ Idempotency-Key → the record as JSON)
// and api_messages (message id → who sent it through which key, its
// reference and idempotency key, as JSON).
package api
