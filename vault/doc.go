// Package vault is sigill's store core: the engine (package kv: one bbolt
// file by default, Options.Engine for another), the group committer, all of sigill's cryptography at rest (the key file and
// the key store), the encrypted messages, their recipients and link
// states, the append-only audit events, and retention over them; for now
// also the notifier's outbox and the staff accounts. What other packages
// keep about events they keep through hooks, in tables of their own, inside
// the transaction that appends the event (Hook, Tx): the receipts mailbox
// is receipts/mailbox's, and the vault knows nothing of IMAP or receipts.
// It logs nothing: no token, body, password or personal number passes
// through a logger here.
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
//     HKDF-SHA256(expiry secret ‖ recipient secret ‖ token, salt = message
//     id, info = purpose ‖ id ‖ recipient index), bound to the same context
//     as associated data. The expiry secret is the message's own 32 random
//     bytes, the recipient secret the recipient's own, both kept sealed
//     under the message's expiry key (below), so that its expiry can move
//     (expiry.go) and one recipient's copy can be withdrawn for good
//     (revoke.go).
//     The token and the secrets are random, so HKDF is the right tool; a
//     password KDF (go-crypto's Argon2, ~200 ms and 64 MiB a call) would
//     only cost time.
//
// So no key that opens content is in the vault file: each is derived from a
// token the file does not hold and a key the file does not hold. With an
// escrow key (Options.EscrowKey, an armored OpenPGP public key) the session
// key is also encrypted to it as a v6 PKESK, kept beside the message sealed
// under the message's expiry key; EscrowMessage returns PKESK ‖ SEIPD, a
// standard OpenPGP message the organisation's private key (kept off the
// server) opens.
//
// # Replies
//
// A recipient's answer from the reader's page (reply.go; kept by
// receipts/mailbox in its own table) is sealed with SealUntilExpiry: one
// SEIPDv2 packet, like a message, under HKDF-SHA256(the message's expiry
// secret, salt = message id, info naming the purpose, the id and the
// reply's label). Not under the link token: the reader holds the token,
// but the sender, who must read the answer (it is mailed to them and
// filed in their IMAP mailbox), never holds a link, and the vault keeps
// only the token's hash. The expiry secret is the one key the gateway
// holds for a message, and only until it expires, so a reply lives exactly
// as long as its message: SetExpiry moves it along, OpenUntilExpiry
// refuses from the expiry, and the replacement and destruction of the
// expiry's hour key make it final against copies, as for the message.
// What this gives up: with the key file and the key store as they are
// before the expiry, a copy of the vault file opens a reply without any
// token (as the escrow key opens a message, but with no key held off the
// server). That is what the sender's need to read it costs; the mail the
// sender got is in their organisation's mail system, out of the vault's
// reach. RecordWithin records the "replied" event and the sealed reply in
// one transaction.
//
// # The key file and the key store
//
// bbolt does not overwrite what it deletes: a deleted record's page goes to
// the free list with its bytes, and stays in the file (and in every Backup)
// until reused. Deleting a record therefore deletes nothing an attacker with
// the file cannot read; only destroying the key it was sealed under does
// (crypto-shredding). Those keys live outside bbolt's pages, in the key
// store (Options.KeyStore, default Path + ".keys", 0600), a small file
// rewritten whole on every change (temporary file, fsync, rename, fsync of
// the folder) and sealed (AES-256-GCM) under a key derived from the key file
// (Options.KeyFile, default Path + ".key": 32 random bytes, created 0600
// when missing, refused when others may read it). It holds two kinds:
//
//   - outbox keys. The notifier must build each link from its token, also
//     after a restart, so an outbox job carries its token sealed under the
//     current outbox key. A key takes new seals for at most a minute while
//     mail flows (at once when all its jobs are done), and is destroyed as
//     soon as no pending job is sealed under it; a job that keeps failing is
//     sealed again under the current key a minute after its key retired, so
//     it keeps no notified job's token readable. (A key whose jobs all wait
//     out a provider's outage is left alone: it holds no sent token.)
//   - expiry keys, one per UTC hour of expiry instants. A message's expiry
//     (received + its own lifetime, or Options.Retention: expiry.go) names
//     its hour's key, under which its expiry secret (which every wrapped key
//     needs) and its escrow packet are sealed. Sweep destroys the key once
//     its hour has ended, and replaces it within a minute of each expiry in
//     the hour (retention.go: a fresh key for the period, the hour's other
//     messages sealed again, the old key destroyed), so an expired message's
//     seal left in free pages opens nothing long before the hour ends. SetExpiry seals them again under the new hour's
//     key, and the old hour's key is replaced by a fresh one (the other
//     messages of that hour sealed again) and destroyed, so the old seal left
//     in free pages opens nothing.
//
// A key is in the file (written and synced) before anything is sealed under
// it: an accept never gets its 250 with a key a crash could lose. Keys are
// made ahead of need by a background pass (at most one write a second, and
// only while something changes), so Accept writes no file of its own and
// adds no fsync. Open refuses a key store that the key file does not open,
// and a missing or other key store while a pending notification or an
// unexpired message needs the old one (ErrKeyMismatch), unless the admin
// put an empty file in its place: then those messages read as expired and
// those notifications fail. A vault opens and rewrites its key store, so a
// backup opened beside the live vault needs a copy of it.
//
// # What a copy opens
//
// The vault file alone, or a backup alone, or either with the key store but
// without the key file: nothing — no token, no message key, no message.
//
// The vault file (or a backup of any age) with the key file and the key store
// as they are at time T opens:
//
//   - the tokens of the notifications pending at T, and with them their
//     messages: that is what pending means. A notification's token stops
//     opening when its outbox key is destroyed: about a second after it is
//     sent or given up when no other job is pending under that key (mail
//     that comes now and then); while mail flows, once the key has retired
//     (it takes new seals for a minute) and its other jobs are done; at
//     most about two and a half minutes after (the key's minute, the minute
//     before a failing companion is resealed, and the passes, every ten
//     seconds).
//   - with a token held from elsewhere (the recipient's SMS or e-mail), that
//     token's message, if it had not expired a minute or more before T.
//     Decrypt refuses from the exact expiry; a copy stops opening once
//     the sweep has replaced the hour's key, within a minute of the expiry
//     (at the hour's end when a restart lost the owed replacement).
//   - with the escrow private key, every message that had not expired (by
//     the same minute) at T, without a token: escrow is the organisation's standing
//     right to read its messages until they expire, and ends with the expiry
//     key like any token. What was exported with EscrowMessage before is the
//     organisation's to delete.
//   - nothing of a copy withdrawn (Revoke) before T, with its token; nor,
//     withdrawn for every recipient, with the escrow key (revoke.go).
//
// So a copy of the three files made before a notification is sent holds its
// token, and one made before a message's expiry (and its minute) holds what opens
// it (given a token); copies made after hold neither, whatever earlier
// pages of the vault file they include. A copy of the key store keeps every
// key in it alive for as long as the copy exists, whatever the vault
// destroys: backing it up extends every pending token's and every live
// message's readability (given the vault file, which backups are) by the
// backup's lifetime. Backup copies the vault file only. Back up beside it
// the key file, apart (it never changes), and the key store either not at
// all — a restore (with an empty key store file) then loses the content of
// unexpired messages and the pending notifications, and keeps accounts,
// audit trail and receipts — or
// as one short-lived copy that is overwritten (e.g. nightly) and never
// archived, accepting that its lifetime is added to the retention.
//
// Not shredded: what is stored in clear (errands, addresses, audit events
// with the openers' personal numbers, staff accounts) stays in free pages
// after audit retention or an erasure deletes or rewrites it, until the
// space is reused; and the key
// store's own old versions are gone from the file system but not from a
// raw disk image, a copy-on-write file system's snapshots, or a backup tool
// that copied the file.
//
// # Personal numbers
//
// Where the vault file keeps personal numbers in clear, and why:
//
//   - a recipient record's logins (addressing.Recipient) and its address
//     as the sender wrote it: every open checks the number BankID returns
//     against them (birth dates and "*" need more than a hash), a link
//     that names one person sends that number to BankID
//     (requirement.personalNumber), and receipts and the API show them
//     (masked, or whole with audit:read);
//   - an "opened", "denied" or "replied" event's personal number and
//     name: the access log the law asks for (who read, HSLF-FS 2016:40),
//     shown whole to audit:read and in the audit export;
//   - a hook's tables where it says so: readerweb's stored sessions keep
//     the number of each grant while the session lasts (minutes), so
//     that any node serves the opened message.
//
// Nowhere else: a lookup by number (the audit export's -pnr, GDPR) goes
// through package audit's index, keyed by HMAC-SHA256 under a key derived
// from the key file (DerivedKey), which is not in the vault file; a
// pending erasure's number is sealed under another such key; a message's
// errand may hold none (intake refuses it). Inside a message's
// ciphertext its headers may name its recipients; that goes at expiry
// like the rest. ErasePersonalNumber (erase.go) takes a number out of
// recipients and events, each hook out of its tables (Hook.Erasing:
// readerweb ends the sessions it holds), and package audit out of its
// index, so after an
// erasure no live record and no index key holds it; the rewritten
// records stay in free pages until reused (below).
//
// # What each engine promises
//
// bbolt (vault/kv/boltkv, the default: one file, one process, held by its
// file lock), behind a write-ahead log (vault/kv/walkv: the file's path
// and LogSuffix). Durable: Commit returns once the transaction's changes
// are appended to the log and the log is fdatasynced, so a 250 is on disk;
// a background applier copies logged commits into the bbolt file, many in
// one bbolt transaction (fsynced as bbolt does), and records in it the
// last one applied, so that Open after a crash applies the rest, each
// once. The log holds what the file holds, sealed the same way, and keeps
// applied records until its space is used again (like free pages, below).
// Readers see logged commits at once (from memory, over the file's
// snapshot). Backup and VerifyStore apply the log first; Verify and the
// migration apply a stopped vault's log to the file (ApplyLog).
// Isolation: one write transaction at a time, readers on a snapshot; no
// transaction ever conflicts. Wake-ups (Tx.Notify) reach this process's
// listeners before Commit returns. Deleted records stay in free pages until
// reused (above).
//
// PostgreSQL (vault/kv/pgkv, with [store] url; several nodes on one
// database). Durable as the server makes its commits: with fsync and
// synchronous_commit on (the defaults; VerifyStore reports either off, and
// full_page_writes off) COMMIT returns once the WAL is flushed on the
// primary, and with synchronous replication configured, on the standbys
// synchronous_commit names. Isolation: write transactions are SERIALIZABLE,
// and one that another node's transaction made impossible to order fails
// with kv.ErrConflict and runs again whole (the committer does so for a
// group); reads are REPEATABLE READ, one snapshot. Sequences (event
// numbers, IMAP UIDs) are a row updated in the transaction, so they rise
// in commit order across nodes with no gaps. Outbox jobs are claimed with
// FOR UPDATE SKIP LOCKED, with a lease (Options, vault.lease) after which
// another node takes a dead node's jobs, and a generation that refuses a
// late outcome. Wake-ups travel by LISTEN/NOTIFY: sent at commit, never for
// a rolled-back transaction, arriving shortly after Commit returns, on
// every node; while a node's listening connection is down it hears none,
// and all its listeners are woken when it is back (the notifier and IMAP
// IDLE also look again on their own). The key store is a versioned row
// (pgkv.KeyStore): a node that saves over another's change gets
// kv.ErrConflict and merges. Backups are PostgreSQL's (pg_dump, or base
// backups with WAL archiving); Backup answers ErrNoBackup.
//
// What shredding promises on PostgreSQL, exactly. Every version of every
// row the vault writes (a record, and each version of the sealed key store
// row) stays, after it is deleted or replaced: as a dead tuple in the table
// file until VACUUM frees it, and its bytes in the page until a later row
// overwrites them (VACUUM does not zero them); in WAL until the segment is
// recycled after a checkpoint (longer with wal_keep_size or a replication
// slot); in archived WAL and in base backups for as long as those are kept;
// on replicas as on the primary. A pg_dump holds only the rows live when it
// ran. None of these opens anything without the key file, which is never
// in the database. With the key file (every node has it), a copy of the
// database's files, WAL or a backup made before a key was destroyed opens
// what that key sealed (pending notifications' tokens; with a token, or the
// escrow key, an unexpired message) for as long as the copy is kept: the
// same as a bbolt backup together with a copy of its key store, here made
// with every change. So on PostgreSQL, destroying a key ends what the live
// database opens only once its dead row versions are vacuumed and
// overwritten, which no setting bounds (the keystore table is vacuumed
// after every few changes, which shortens the first part only); and the
// WAL archives' and backups' retention is added to every message's. Keep
// the key file off the database server and out of its backups.
//
// # On PostgreSQL
//
// A PostgreSQL engine (issue "One store core, two engines") keeps deleted
// and updated rows as dead tuples until VACUUM reuses their space (VACUUM
// FULL rewrites the table), and every version of every row in WAL, in WAL
// archives, in base backups and on replicas. Nothing deleted there is gone
// either, so the same rule must hold: the outbox and expiry keys stay
// outside the database, in a file (or a secret store) that truly replaces
// its content, never in a table, whose old rows would survive in WAL just as
// bbolt's pages do. Then WAL, archives, replicas and dumps are copies of the
// vault file in the sense above, and what holds for those holds for them.
// What stored in clear is deleted (audit retention) will not be gone from
// WAL archives and backups until those are: their retention is the
// organisation's to set.
//
// Several nodes must share the key store (Options.KeyStoreBackend,
// versioned: keystore_backend.go). A backend that keeps it in a table of
// the same database breaks the rule above: every version of the sealed key
// store, destroyed keys included, is then in WAL, its archives, base
// backups and replicas (and in dead tuples until VACUUM), so with the key
// file, which every node holds, a copy opens what the keys sealed for as
// long as that copy is kept — as if the key store were backed up with
// every change. Such a backend is a choice to state: the shredding then
// holds only against whoever has the database's files without the key file,
// and the WAL archives' and backups' retention is added to every message's.
// A backend that truly replaces its value (a secret store, a file on
// storage every node mounts) keeps the promise. sigill's PostgreSQL store
// ([store] url) is, for now, such a table backend (pgkv.KeyStore, the
// keystore table), and says so (What each engine promises, above; README);
// no backend that truly replaces ships yet.
//
// With several nodes each node seals under outbox keys of its own (named by
// Options.NodeID), replaces its current key every minute even when idle,
// and destroys its keys as on one node, counting pending jobs from the
// outbox since other nodes finish its jobs; another node's keys, once their
// age shows the node gone (a current key some minutes old), are resealed
// or destroyed by whichever node comes first (keystore.go), a few minutes
// later than on one node.
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
// isolated: it fails alone with its own error (after which the group is
// rolled back and re-run without it), and when Commit itself fails each
// request is retried in its own transaction, so one bad request never fails
// good ones; a commit the disk has no room for fails with ErrFull (smtpd
// answers 451 and the client keeps the message). Options.FailCommit
// injects such faults for tests: the write path has no test-only code of
// its own. Record, the account calls and Sweep go through the same
// committer. On an engine with other writers (PostgreSQL, several nodes),
// a group whose transaction conflicts with another node's (kv.ErrConflict)
// runs again whole, in a new transaction: every request computes what it
// writes from the transaction, so running it again is safe.
//
// # Links
//
// Lookup tells, in one word, what a link token opens now (LinkState): fine,
// expired (retention passed), revoked (Revoke withdrew that recipient's
// copy: it marks the recipient's record, so Lookup reads nothing else, and
// Decrypt refuses it with ErrRevoked) or unknown (never made, malformed, or
// purged). The token's form is the vault's alone: a
// malformed token costs the same look-up as an unknown one.
//
// # Hooks
//
// Another package acts inside the transaction that appends an event by
// registering a Hook (Options.Hooks): Appended runs for every appended
// event, Purging for every event deleted at audit retention, Erasing at a
// GDPR erasure (ErasePersonalNumber), each inside that transaction, so what the hook writes is committed with the event in
// the same fsync or not at all. A hook sees the store through Tx only —
// the events, the letters, the outbox (QueueJob) and tables of its own,
// declared in Hook.Tables — never through the engine, so the same hook runs
// on every engine. View and Update give the hook's package the same Tx
// outside of an event.
//
// # Layout
//
// Buckets: messages (id → JSON metadata: expiry, expiry key, sealed expiry
// secret and recipient secrets, sealed escrow packet), content (id → SEIPD packet), recipients (SHA-256(token) → JSON:
// message id, index, address, addressing data, wrapped key), events
// (big-endian sequence → JSON event, append only: accepted, notified,
// delivered, failed, opened, denied, expired, revoked, expiry_changed,
// replied) with events_by_message
// (id ‖ sequence) so Events(id) is a prefix scan, outbox (big-endian job id
// → JSON job with its outbox key's id, sealed token, lease and lease
// generation: see Outbox), accounts
// (lower-cased address → JSON with an argon2id PHC hash), expire_due
// (expiry ‖ id) and purge_due (received time ‖ id): the sweeper's work
// lists, outbox_due (due time ‖ job id: the notifier's work list), meta
// (schema version 2, the key store's id, outbox_indexed), and each hook's
// tables under their own names (receipts/mailbox: mailbox, mailbox_meta,
// mailbox_by_event, mailbox_replies (event seq → a reply's sealed mail);
// notifier: deliveries, provider ‖ provider's id →
// message and recipient, for delivery reports; the names they had when the
// vault kept them; audit: audit_staff, audit_by_number, audit_meta,
// gdpr_erasures, described in its doc). Message ids are 48 bits of
// milliseconds and 48
// random bits in lower-case base32hex: 20 characters that sort by time.
//
// # Retention
//
// After Options.Retention (default 30 days), or the message's own lifetime
// (exp=, at most Options.MaxRetention: expiry.go), Sweep deletes a message's
// ciphertext, escrow packet and wrapped keys, drops its outbox jobs and
// records "expired" per recipient; Lookup answers LinkExpired.
// Sweep also destroys the expiry keys of the hours that have ended, which is
// what makes the deletion final (above); RunSweeper runs just after each
// hour ends.
// After Options.AuditRetention (default 5 years, HSLF-FS 2016:40) the events and the
// metadata go too. RunSweeper sweeps periodically.
//
// # Accounts
//
// Staff passwords are hashed with argon2id, m=64 MiB, t=1, p=2, 16-byte salt,
// 32-byte hash, stored as PHC strings; at most four hashes run at once.
// Authenticate runs the same hash for an unknown account so that timing does
// not reveal which accounts exist.
package vault
