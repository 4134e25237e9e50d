// Package audit owns the reading side of the audit trail and what the
// law asks of it: the staff's actions (sign-ins and their failures,
// second-factor changes, API keys made and revoked, a message's page
// viewed in the staff web, exports and erasures) beside the vault's
// message events, the export of a period's or one personal number's
// trail (sigill audit export, the API's audit:read), and the data
// subject's requests by personal number (sigill gdpr export|erase, the
// API's gdpr:admin), which read through the same index. It speaks no
// HTTP and logs nothing.
//
// It sits beside apikey in the import order (vault → audit → api → cmd)
// and keeps its records in tables of its own through the vault's hook
// (vault.Hook): its Appended files every event that names a personal
// number in the by-number index, in the event's own transaction.
//
// # Recording what staff do
//
// RecordStaffAudit is what every door calls: the CLI and the admin
// listener (second factor, API keys, exports, erasures), the staff web's
// sign-in and message page (staffweb), and SMTP and IMAP login failures.
// A record names the actor (a staff account, "cli:" and the system user
// for the command line, or "apikey:" and the key's id), the action
// (Action*), the target (an account, a key id, a message id), and the IP
// and user agent where a network request did it. It never holds a
// password, code, key or personal number: an action about a number keeps
// the number's keyed hash (Subject), which an erasure removes.
//
// # Personal numbers
//
// The by-number index is keyed by HMAC-SHA256(number) under a key derived
// from the vault's key file (vault.DerivedKey), which is never in the
// vault file: a copy of the file alone cannot tell from the index which
// numbers it holds, nor check a guessed one. An erasure deletes the
// number's index entries with it, and blanks the hash in the staff
// records, so no index key and no record outlives it. Where the vault
// keeps numbers in clear, and why, is in vault's doc.
//
// # Retention
//
// Message events go with their message at vault.audit_retention (the
// vault's Sweep, whose Purging removes their index entries); staff
// records go after the same time (Sweep here, run by RunSweeper).
//
// # Tables
//
// audit_staff (big-endian Unix ns ‖ big-endian sequence → StaffAudit as
// JSON), audit_by_number (HMAC(number) ‖ message id → nothing),
// audit_meta (whether the events before the index existed were filed),
// gdpr_erasures (request id → ErasureRequest as JSON; a pending one's
// number sealed with AES-256-GCM under another derived key, dropped when
// it is carried out).
package audit
