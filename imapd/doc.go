// Package imapd is sigill's IMAP server (go-imap/v2's imapserver): it serves
// each staff account its receipts — the mailbox package receipts/mailbox
// keeps per account (mailbox.Store) — as a single INBOX, and nothing else.
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
// oldest first. UIDs, UIDVALIDITY and flags are kept in the vault by
// receipts/mailbox, so they survive restarts; UIDs only grow. A receipt is rebuilt from its event whenever it
// is fetched — the same bytes every time — and recent ones are kept in a
// bounded in-memory cache, emptied after every erasure of a personal
// number (an erased opener's receipt is built anew, without the number);
// RFC822.SIZE is the length of those bytes.
//
// New receipts are announced to every session that has INBOX selected (an
// untagged EXISTS at the next command, or at once during IDLE), through the
// mailbox store's subscription (woken through the store, from any node
// sharing it) and one imapserver.MailboxTracker per account. Flag
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
// # Malformed commands
//
// go-imap (beta.8, the newest; its parse-error fix is an open pull request)
// answers some malformed commands NO [SERVERBUG] and closes the connection
// on others. So a guard (guard.go) reads every command whole before go-imap
// sees any of it, and answers these itself with BAD and the reason, as RFC
// 9051 §7.1.3 has it, and the session goes on:
//
//   - a line without a valid tag, NUL, or an empty line: an untagged
//     "* BAD" when there is no tag to answer to; a CR or LF inside a line,
//     a quoted string not closed on its line; a command without a name, or
//     UID without one; a sequence set with 0 or past 4294967295;
//   - a command over 48 KiB outside its literals: BAD [TOOBIG], the rest of
//     the line skipped (RFC 2683 §3.2.1.5; RFC 7162 §4 asks for 8 KiB);
//   - a literal over 4 KiB, or literals over 64 KiB in one command: BAD
//     [TOOBIG] instead of the continuation request, so the client does not
//     send it (RFC 9051 §2.2.1); APPEND gets its NO [CANNOT]. A
//     non-synchronizing literal over 4 KiB, which the client sends anyway
//     against LITERAL- (RFC 7888), ends the connection with BYE (RFC 9051
//     §7.1.5);
//   - lists nested over 64 deep; SEARCH refuses NOT and OR nested as deep;
//   - a line over 8 KiB after a continuation request (an AUTHENTICATE
//     response, IDLE's DONE) ends the connection with BYE: go-imap is in
//     the middle of the command and cannot be given a BAD.
//
// The guard asks for each synchronizing literal itself and hands go-imap a
// non-synchronizing one, one line or literal per read. When go-imap answers
// a command, what it left unread of it is dropped, so that a literal after
// a syntax error is not read as the next command. What go-imap's parser
// still turns into SERVERBUG (an unknown SEARCH key, a bad date or mailbox
// name) becomes BAD [CLIENTBUG]: the session's own faults are always typed
// errors (NO [UNAVAILABLE]), so an untyped one can only be the parser's.
// Before login go-imap still ends the connection on an unknown command
// (against cross-protocol attacks); the guard's refusals never do.
//
// # Stopping
//
// Shutdown stops taking connections and lets the open ones end gracefully
// (drain.go): a session waiting on its client (in IDLE, between commands)
// gets an untagged BYE at once; one executing a command finishes it,
// answers, and then gets BYE. The guard is where the waiting happens, so it
// is where Shutdown looks. The caller's context bounds the wait (sigill: 30
// s); Close cuts everything at once.
//
// The guard also terminates TLS, to see the commands: go-imap, which knows
// TLS only as a *tls.Conn, runs twice, once for plain connections (where it
// offers STARTTLS and LOGINDISABLED; the guard does the STARTTLS) and once
// for those in TLS, where it offers AUTH=PLAIN. Login checks TLS itself.
package imapd
