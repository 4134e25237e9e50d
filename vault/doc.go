// Package vault is sigill's store: one bbolt file that holds the encrypted
// messages, their recipients, the append-only audit events, the notifier's
// outbox and the staff accounts, and applies retention to them. It owns all
// of sigill's cryptography at rest. It logs nothing: no token, body,
// password or personal number passes through a logger here.
//
// # What is kept, and who can read it
//
// Every message gets a fresh random 256-bit session key. The whole original
// MIME message is encrypted with it as one OpenPGP SEIPDv2 packet (RFC 9580:
// AES-256, OCB, chunked AEAD) holding a literal data packet, written with
// go-crypto's packet API so that no password KDF runs.
//
// Every recipient gets a fresh link token of 128 random bits (base64url, 22
// characters). The vault stores:
//
//   - SHA-256(token) as the recipient's look-up key, never the token;
//   - the session key wrapped with AES-256-GCM under
//     HKDF-SHA256(token, salt = message id, info = purpose ‖ id ‖ recipient
//     index), bound to the same context as associated data. The token is
//     random, so HKDF is the right tool; a password KDF (go-crypto's Argon2,
//     ~200 ms and 64 MiB a call) would only cost time.
//
// So the vault file alone decrypts no message: every key that opens content
// is derived from a token the file does not hold. The token from the link
// plus the vault can (Decrypt). With an escrow key (Options.EscrowKey, an
// armored OpenPGP public key) the session key is also encrypted to it as a
// v6 PKESK kept beside the message; EscrowMessage returns PKESK ‖ SEIPD, a
// standard OpenPGP message the organisation's private key (kept off the
// server) opens.
//
// # The outbox and its key file
//
// The notifier must build each link from the token, also after a restart, so
// an outbox job has to carry its token. It carries it sealed (AES-256-GCM)
// under a key from a separate file, Options.KeyFile (default Path + ".key",
// 32 random bytes, created 0600 when missing, refused when others may read
// it). A job is deleted once its notification is done, and with it the
// sealed token. Hence: the vault file alone yields no token; the vault file
// plus the key file yields only the tokens of notifications not yet sent.
// Back the key file up apart from the vault (or not at all: without it only
// pending notifications are lost). Open refuses a key file other than the
// one the pending jobs were sealed with (ErrKeyMismatch), and takes a new one
// when the outbox is empty.
//
// # Accepting a message
//
// Accept stores the message, its recipients, one "accepted" event and one
// "notify" outbox job per recipient in one bbolt write transaction, and
// returns only after that transaction is committed and fsynced. Concurrent
// Accepts share commits through the vault's committer (group commit): all
// expensive work (encryption, tokens, wrapping, JSON) is done in the caller's
// goroutine, the request is queued, and one goroutine takes whatever is
// queued the moment the previous commit ends — no fixed delay, so a lone
// message is committed at once and a busy gateway gets large groups — does
// only puts, commits once, and wakes every waiter. A request that fails is
// isolated: it fails alone (ErrFull, or its own error after which the group
// is rolled back and re-run without it), and when Commit itself fails each
// request is retried in its own transaction, so one bad request never fails
// good ones. Record, the account calls and Sweep go through the same
// committer. bbolt's DB.Batch (which waits out MaxBatchDelay for a lone
// message) stays reachable as an unexported option for the benchmark.
//
// # Layout
//
// Buckets: messages (id → JSON metadata), content (id → SEIPD packet),
// recipients (SHA-256(token) → JSON: message id, index, address, addressing
// data, wrapped key), events (big-endian sequence → JSON event, append only)
// with events_by_message (id ‖ sequence) so Events(id) is a prefix scan,
// outbox (big-endian job id → JSON job with sealed token), accounts
// (lower-cased address → JSON with an argon2id PHC hash), expire_due and
// purge_due (received time ‖ id: the sweeper's work lists), outbox_due
// (due time ‖ job id: the notifier's work list), deliveries (provider ‖
// provider's id → message and recipient, for delivery reports), mailbox,
// mailbox_meta and mailbox_by_event (each staff account's receipts: UID →
// event, UIDVALIDITY and UIDNEXT, flags), meta (schema version, outbox key
// id, outbox_indexed). Message ids are 48 bits of milliseconds and 48
// random bits in lower-case base32hex: 20 characters that sort by time.
//
// # Retention
//
// After Options.Retention (default 30 days) Sweep deletes a message's
// ciphertext, escrow packet and wrapped keys, drops its outbox jobs and
// records "expired" per recipient; Lookup still answers with Expired set.
// After Options.AuditRetention (default 400 days) the events and the
// metadata go too. RunSweeper sweeps periodically.
//
// # Accounts
//
// Staff passwords are hashed with argon2id, m=64 MiB, t=1, p=2, 16-byte salt,
// 32-byte hash, stored as PHC strings; at most four hashes run at once.
// Authenticate runs the same hash for an unknown account so that timing does
// not reveal which accounts exist.
package vault
