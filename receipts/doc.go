// Package receipts owns the receipt messages sigill sends back to a sender:
// one MIME message for each audit event the sender cares about, built from
// the event and the letter it is about (mailbox.Store.Receipt), and, in
// receipts/mailbox, the mailbox they are filed in.
//
// design.md lists "receipts to senders" under the notifier, but two
// packages need the same bytes — the notifier, which mails a receipt to the
// sender (receipts.mail_to_sender), and imapd, which serves every receipt in
// the sender's INBOX — so the MIME lives here, a package of its own between
// vault and notifier/imapd in the import order
// (config, addressing → vault → receipts → receipts/mailbox → imapd). It
// imports only addressing and vault, and logs nothing.
//
// # What each event becomes
//
//   - opened: an RFC 8098 MDN, multipart/report;
//     report-type=disposition-notification: a readable text part (who opened
//     what, when; the name and the masked personal number in the Subject)
//     and a message/disposition-notification
//     part with Reporting-UA, Final-Recipient (the gateway address of that
//     recipient), Original-Message-ID and "Disposition:
//     automatic-action/MDN-sent-automatically; displayed".
//   - delivered, failed, expired: an RFC 3464 DSN, multipart/report;
//     report-type=delivery-status: a text part and a message/delivery-status
//     part with Reporting-MTA, Arrival-Date and the recipient's
//     Final-Recipient, Action, Status (delivered 2.0.0; failed 5.0.0 with the
//     reason as Diagnostic-Code; expired 5.4.7) and Last-Attempt-Date.
//     "delivered" means the notification (SMS or e-mail with the link)
//     reached the recipient, not that the message was read.
//   - revoked: a DSN as well (Action failed, Status 5.0.0, Diagnostic-Code
//     "X-Sigill; withdrawn: <reason>"): for which recipient the copy was
//     withdrawn, when, by whom (the account, or "an administrator") and
//     why.
//   - denied: a plain text notice that a person who is not allowed signed in
//     to open the message, with their name and number, and how to allow them.
//   - replied: not a receipt but the recipient's answer from the reader's
//     page (BuildReply, built once when it is sent): From the gateway's
//     address with the person (name and masked number) in the display name,
//     in the Subject, X-Sigill-Replier and the text, threaded like a
//     receipt, the text as written and the files as attachments, Cc
//     organisation.reply_copy. It carries no Auto-Submitted: a person wrote
//     it.
//
// # Personal numbers
//
// A receipt lasts for years in mailboxes (mailed to the sender, or synced
// from IMAP into a client's store), so it shows a personal number whole only
// where the sender needs it: a person the address did not name — who opened
// through login=* or a birth date, or who was refused — is shown whole, as
// the receipt is the only place the sender learns who it was; a person the
// sender named is shown masked (19990807-****), in the text and in
// Final-Recipient, which quotes the address. Org.WholePersonalNumber
// (receipts.whole_personal_number) shows every number whole. The mailed
// copy and the IMAP copy are the same bytes, so both follow the same rule.
//
// Every receipt has In-Reply-To and References set to the original
// Message-ID (when the original had one), so Outlook and Thunderbird thread
// it under the sent mail, and Auto-Submitted: auto-replied plus
// X-Auto-Response-Suppress: All, so no autoresponder answers it. It goes
// From the organisation (Org.Name, Org.From) To the letter's owner
// (vault.Letter.Owner).
//
// # Language and time
//
// The text is in the sender's language: Org.Lang (the organisation's
// default, organisation.default_lang), else Swedish. A receipt is read by
// the staff member who sent the message, not by the recipient, so the
// recipient's lang= (which chooses the SMS, the e-mail notice and the reader
// page) does not choose it: a Swedish clinic writing to an English-speaking
// patient gets Swedish receipts. Staff accounts have no language of their
// own; the organisation's is the one sigill knows. Times are shown in
// Org.Location (default Europe/Stockholm, from the embedded time zone
// database, so a build does not depend on the machine's zoneinfo).
//
// # Deterministic
//
// Build is a pure function of its inputs: Date is the event's time,
// Message-ID is receipt.<event seq>.<message id>@<Org.Hostname>, and the
// MIME boundary is derived from the same values. imapd relies on it: a
// receipt is never stored, only rebuilt, and its RFC822.SIZE must not
// change between two FETCHes. Letter.Expired, which changes with the clock,
// is never read.
package receipts
