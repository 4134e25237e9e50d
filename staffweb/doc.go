// Package staffweb owns the staff web: the clerk's pages on the staff
// listener (staff.listen, beside the REST API's /api/v1/), as
// shared/spec/staff-web.md fixes them — sign-in with a password and a
// second factor, server-side sessions, the account page, the
// administrators' staff accounts, and (from the send helper's files) the
// send form, the sent log and a message's page.
//
// Every page is rendered on the server (html/template) and every action is
// a plain form, POST → 303 → GET; no page needs script. Pages carry the
// reader page's strict Content-Security-Policy and security headers, and
// cross-site POSTs are refused by net/http's CrossOriginProtection.
// Swedish by default, English by choice (?lang=en, kept in a cookie).
//
// # Operations
//
// The pages change nothing themselves: every change is the operation
// `sigill user` and `sigill apikey` call (vault.SetPassword, EnrollTOTP,
// ConfirmTOTP, CreateAppPassword, SetDisabled, ResetSecondFactor, ...,
// apikey.Store.Create/Revoke), and every password or code try goes through
// staffauth, whose authgate.Gate is the one SMTP and IMAP use.
// Decisions the spec left open: an account's own API keys carry at most
// the sending system's scopes (apikey.DefaultScopes), an administrator's
// any; changing one's password, or removing one's TOTP, asks for the
// current password; an administrator does not disable, enable or reset
// their own account on the accounts page.
//
// # Sessions
//
// Sessions live in the store (tables staffweb_sessions and
// staffweb_sessions_by_account, through the vault's hook API), so they
// survive a restart and every node sees them; only the SHA-256 of the
// cookie's value is kept. A session goes through stages: after the
// password, "second_factor" (five minutes to give a code) or "enrol"
// (staff.require_2fa and no second factor yet: TOTP must be enrolled
// before anything else); after the second factor, "in". Every step up
// makes a new id (the cookie before sign-in is never the one after it) and
// deletes the old. A session ends after Options.SessionIdle without a
// request and Options.SessionMax after sign-in, at sign-out, and at the
// first request after the account was disabled, removed or made anew, or
// its password set or second factor reset (vault.Account.Generation, the
// rule SMTP and IMAP sessions follow too), wherever that was done; the
// web's own change or reset keeps the session that made it. The account
// is read on every request. The cookie is HttpOnly, SameSite=Lax,
// Path=/, and with Options.Secure (HTTPS) Secure with the __Host- prefix.
//
// Secrets shown once (recovery codes, an app password, an API key, a new
// TOTP secret) are written in the answer to the POST that made them, with
// Cache-Control: no-store, and never kept in the session.
//
// # Sending and the sent log
//
// The send form (send.go) takes recipients one per line, in the address
// syntax or as a number or address followed by who may open it
// (sendlines.go turns the second into the first, so addressing's rules and
// words apply unchanged); the form's language and replies choice go into
// each line that sets none, its lifetime into vault.Incoming.Lifetime (as
// the API's expires_in). The message is written as MIME by
// intake.Compose and taken through intake.Rules.Incoming into the vault,
// as SMTP's DATA and the API take theirs. A form with faults is answered
// 422 with every fault next to its field; a browser does not send files
// again, so the attachments must be chosen again, and the page says so.
//
// The sent log (sentlog.go) and a message's page (message.go) read package
// vault/sentindex, as the API's list and status do. A recipient's status
// is the highest-ranked of its events (a late delivery report hides no
// open); "opened by" names the first to open it, the page lists every
// open. Numbers are masked (19990807-****) as the receipts mask them;
// times are Europe/Stockholm's. Withdrawing (one recipient or all, with an
// optional reason) is vault.RevokeRecipients, as the API and `sigill
// message revoke` call it. While the message can be read, its page shows
// the recipients' answers (lifecycle.go: Options.Replies, the receipts
// mailboxes' Answers, as the API's replies route reads them), each file a
// download (application/octet-stream, attachment, nosniff: never rendered
// in this origin), and a form that shortens or extends its lifetime
// (addressing.ParseExpiry, as `sigill message expire` reads it, then
// vault.ChangeExpiry, as the API calls it), within vault.max_retention
// after it was sent; a fault is shown next to the field.
// There is no "resend the notice": after its notice is sent the vault
// keeps no copy of a link's token (by design, see package vault), so a
// notice with the same link cannot be made again, nor a new link without
// the old token. A message's page refreshes its statuses with an optional
// script (static/message-status.js) for five minutes while in view; its
// Refresh link does the same without script.
//
// # Files and who owns them
//
// This package is built by two helpers. The sign-in helper owns doc.go,
// server.go, text.go, render.go, session.go, signin.go, account.go,
// admin.go, templates/layout.html, templates/{home,login,login2fa,
// enrol,account,secret,admin,problem}.html and static/staff.css; the
// passkey helper passkeys.go, templates/passkeys.tmpl and
// static/passkey.js. The send/log helper owns send.go, sendlines.go,
// sentlog.go, message.go, their templates (templates/send.html,
// messages.html, message.html) and static/message-status.js; the lifecycle helper lifecycle.go. A file adds its
// routes with Mount in an init function and its words with addTexts, so
// neither edits the other's files; a page template is any
// templates/NAME.html defining "title" and "content", rendered with
// s.render(w, r, sess, status, "NAME", data).
//
// Passkeys (WebAuthn, package passkey) are passkeys.go's, when
// Options.Passkeys is set: "Sign in with a passkey" on the sign-in and
// second-factor pages, a passkey instead of TOTP on the enrolment page,
// and the account page's passkeys section; the places are marked PASSKEYS
// in the templates, the forms are templates/passkeys.tmpl, and the
// ceremonies' script is static/passkey.js, a hashed static file like the
// style sheet, so the CSP keeps script-src 'self' with nothing inline. A
// passkey is a whole sign-in and counts as the second factor; the
// administrators' reset of the second factor (passkey.ResetSecondFactor)
// removes it with TOTP and the recovery codes.
//
// # The audit trail
//
// What a person does here goes to the audit trail (package audit,
// Options.Audit) through s.record (audit.go): sign-ins and their
// failures (password, second factor, passkey), second-factor, password,
// app password and API key changes on the account page, and an
// administrator's changes to accounts. A page that shows a message
// (message.go) records audit.ActionMessageViewed with the message's id as
// target.
package staffweb
