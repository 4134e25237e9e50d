// Package mailbox owns the receipts mailbox: every staff account's one
// mailbox of receipts, which imapd serves as INBOX, and the receipt jobs
// that mail the same receipts to their senders (receipts.mail_to_sender),
// and the recipients' replies from the reader's page, filed and mailed
// alike (reply.go).
// It owns the UIDs, UIDVALIDITY and UIDNEXT, the flags a staff member keeps
// on a receipt and how IMAP's STORE changes them (FlagOp), the rules of
// what is filed, and the subscribers told of a change (IMAP IDLE: through
// the store's wake-ups, vault.Tx.Notify and Vault.Listen, so a receipt filed
// on one node reaches a session idling on another). It
// builds no message (package receipts does) and speaks no protocol (imapd
// does). It logs nothing.
//
// It sits between the vault and imapd in the import order (config,
// addressing → vault → receipts → mailbox → imapd → cmd) and keeps its
// records in tables of its own through the vault's hook (vault.Hook): it
// never sees the engine, so it runs on any engine the vault has.
//
// # Filing
//
// A mailbox is a view over the audit events: each event a sender cares
// about (receipts.IsReceiptKind: delivered, failed, opened, denied,
// expired, revoked) is filed by the hook's Appended, inside the transaction that
// appends it — so Record, Sweep and the notifier's job outcomes all file
// alike, and an event and its receipt are on disk in one fsync or not at
// all — under the next UID of the mailbox of the letter's owner
// (vault.Letter.Owner: the authenticated account, or the lower-cased
// envelope sender for relayed mail, whose receipts show once an account
// with that address exists). An "opened" by a person whose opening of the
// same recipient's copy was already filed is not filed again: a re-read
// stays in the audit trail, but the sender gets one receipt per person, as
// RFC 8098 sends one MDN. The expiry of a copy withdrawn before is not
// filed either: its withdrawal was the sender's receipt. With Options.MailToSender every filed receipt
// also queues a JobReceipt in the vault's outbox, in the same transaction.
//
// An entry holds only the event's sequence number and the entry's flags;
// the receipt itself (receipts.Build) is made from the event and its letter
// (Store.Receipt) whenever it is asked for, and is the same bytes every
// time. A reply's entry serves the reply's mail as it was built and sent
// (Store.Message gives either).
//
// # IMAP's promises, kept on disk
//
// A mailbox's UIDVALIDITY is chosen once, when the mailbox is first
// touched, and never changes; UIDNEXT is stored and only grows, so a UID is
// never reused, not even after an entry is removed. Entries are removed
// with their events, at audit retention (the hook's Purging), and a
// reply's entry at its message's expiry, when the reply's content goes. Removing an
// account keeps its mailbox: an account made again with the same address
// sees the same receipts, under the same UIDVALIDITY.
//
// Tables (the bucket names of earlier versions, so a vault file keeps its
// mailboxes): mailbox (account ‖ 0 ‖ big-endian UID → big-endian event seq
// ‖ flags byte), mailbox_meta (account → big-endian UIDVALIDITY ‖ UIDNEXT)
// mailbox_by_event (big-endian event seq → account ‖ 0 ‖ big-endian
// UID, so the purge finds the entries of a message's events) and
// mailbox_replies (big-endian event seq of a "replied" → the reply's id and
// its mail, sealed with vault.SealUntilExpiry).
package mailbox
