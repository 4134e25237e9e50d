// Package imapd is sigill's IMAP server (go-imap/v2's imapserver): it serves
// each staff account its receipts — the mailbox the vault keeps per account
// (vault.Mailbox) — as a single INBOX, and nothing else.
//
// # Logging in
//
// LOGIN and AUTHENTICATE PLAIN take the same staff credentials as SMTP
// submission (vault.Authenticate). Only over TLS: implicit TLS (ServeTLS,
// port 993) or STARTTLS (Serve with Options.TLS). A plain connection shows
// LOGINDISABLED and refuses to log in with PRIVACYREQUIRED, unless
// Options.InsecureAuth is set (sigill dev), and even then only for a peer on
// a loopback address. A failed login costs a second; after three on one
// connection the connection is closed. Logs name the account and the peer,
// never a password, and a user name that is not an address is not logged.
//
// # The mailbox
//
// INBOX holds every receipt for the account's messages (package receipts:
// MDN for opened, DSN for delivered/failed/expired, a notice for denied),
// oldest first. UIDs, UIDVALIDITY and flags are the vault's, so they survive
// restarts; UIDs only grow. A receipt is rebuilt from its event whenever it
// is fetched — the same bytes every time — and recent ones are kept in a
// bounded in-memory cache; RFC822.SIZE is the length of those bytes.
//
// New receipts are announced to every session that has INBOX selected (an
// untagged EXISTS at the next command, or at once during IDLE), through the
// vault's subscription and one imapserver.MailboxTracker per account. Flag
// changes by one session are announced to the account's other sessions.
//
// What a client may do, and what it may not:
//
//   - FETCH (ENVELOPE, BODYSTRUCTURE, BODY[...], BODY.PEEK[...], BINARY,
//     RFC822.SIZE, INTERNALDATE, FLAGS, UID) and SEARCH (every RFC 3501 key).
//     A FETCH of BODY[...] or BINARY[...] without PEEK sets \Seen (not after
//     EXAMINE), as go-imap leaves that to the backend.
//   - STORE of \Seen, \Answered, \Flagged and \Draft, kept per account.
//     Keywords ($Junk, $label1, ...) are not kept and are ignored, as RFC 3501
//     allows for flags outside PERMANENTFLAGS. \Deleted is refused: receipts
//     are the sender's audit trail and cannot be expunged.
//   - APPEND, COPY, MOVE, EXPUNGE, CREATE, DELETE and RENAME are refused with
//     NO [CANNOT] and a sentence that says why. go-imap/v2 does not enforce
//     read-only mailboxes by itself; every refusal is here. CLOSE still
//     works (it expunges nothing, since nothing has \Deleted).
//   - LIST shows INBOX only; SELECT, EXAMINE, STATUS and SUBSCRIBE know no
//     other name.
//
// Two accounts never see each other's receipts: a session reads only the
// mailbox of the account it logged in as, and the vault files each receipt
// in one account's mailbox only.
//
// The connection is handed to go-imap unwrapped: it detects TLS by asserting
// *tls.Conn.
package imapd
