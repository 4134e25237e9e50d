// Package readerweb owns the recipient's side of sigill: the page a link
// opens, the BankID identification that guards a message, the check of the
// returned personal number against who may open it, and the view of the
// decrypted message with its inline images and attachments, and the
// recipient's replies from the page (reply.go).
//
// # Routes
//
// Handler serves, beside the /dev/ and /hooks/ routes on the same
// listener (mount it at "/"):
//
//	GET  /m/<token>               landing page; the message once identified
//	POST /m/<token>/auth          start a BankID order (form → 303; JSON → {"autoStartToken","qr"})
//	GET  /m/<token>/auth          the order's state {"status","hintCode","message","qr"}
//	GET  /m/<token>/qr.svg        the current animated QR code, for the page's script
//	POST /m/<token>/cancel        cancel the order
//	POST /m/<token>/logout        end the session
//	GET  /m/<token>/message.json  {"errand","from","on_behalf_of","sent","text","html","attachments":[{"name","size","url"}],"replies_allowed","replies":[{"at","text","files"}]}
//	POST /m/<token>/reply         an answer: text and files (form → 303; JSON → 201), see reply.go
//	GET  /m/<token>/cid/<n>       an inline (cid:) image of the message
//	GET  /m/<token>/att/<n>       an attachment, as a download
//	GET  /r/<nonce>               where the BankID app returns on the same device
//	GET  /static/<name>           the page's CSS and script, named by content hash
//	GET  /favicon.ico             204, so that browsers stop asking
//
// Status values of GET /m/<token>/auth are BankID's pending, failed and
// complete (complete only when the person may open the message), plus
// "denied" (identified, but not allowed; nothing decrypted) and, with 404,
// "none" (this browser session has no order for the link).
//
// # What a GET changes
//
// Mail security scanners fetch links before people do. A GET or HEAD without
// this browser's session cookie changes nothing: it reads the letter's
// metadata (errand, time) through vault.Lookup, decrypts nothing, records
// nothing and sets no cookie. The vault's Lookup tells the link's one state
// (vault.LinkState); readerweb neither reads events nor knows the token's
// form. An unknown, malformed or expired token gets the same 200 page shape
// after the same look-up work (the vault looks a malformed token up as a
// fixed dummy), so that neither status nor time tells tokens apart. A link
// the sender withdrew (vault.LinkRevoked) gets a page saying so, same status,
// with the errand and the sender the notice named already (not the reason,
// the sender's note for the audit trail and receipts); the JSON API answers
// it 410 Gone with "withdrawn" (404
// "not_found" for the rest). Only a browser whose session completed BankID as an allowed
// person changes state with a GET: its first request after completion rotates
// the session id and records "opened" (see below).
//
// # Sessions
//
// A session's grants (what its logins won), its BankID order and its
// same-device orders' return paths are kept in the vault's tables (Hook;
// sessionstore.go, orderstore.go), keyed by a hash of the session id, so a
// browser may land on any node sharing the store, and after a restart: an
// order started through one node is polled, shown (QR code, the link to
// the app), returned to from the app, completed and read through any
// other; a cancel, logout or claim on one node ends the old id on all. A
// request with a cookie reads its session's record once. Sessions last minutes
// (Options.SessionTTL, absolute from the moment the session was made, not
// sliding). The cookie is HttpOnly, SameSite=Strict,
// Path=/ and, unless Options.Secure is false (dev on loopback), Secure with
// the __Host- prefix.
//
// What the store never holds in clear: the session id (only its SHA-256),
// the link token (grants are keyed by a hash of it), and what an order
// must keep secret — BankID's autoStartToken, qrStartToken and
// qrStartSecret, and a same-device order's return path, which holds the
// link token. These are sealed with AES-256-GCM under a key derived with
// HKDF-SHA256 from the session id, which only the browser's cookie carries:
// every request that needs them carries it, and neither the store nor the
// key file opens them. BankID's orderRef is stored in clear (a node that
// takes an order over collects it with no request at hand; it is of no use
// without the relying party's certificate), and so are the person's number
// and name once BankID identified them, as in the grants and the events.
//
// A session is made only by POST /m/<token>/auth, and every such POST makes a
// new one (an incoming session, with its order, is ended first), so a session
// id planted in a browser before BankID never carries an order. When the
// order completes as an allowed person, the next request of that session
// claims the result: "opened" is recorded (number, name, time, the request's
// IP and user agent), the old id is deleted and a new id holding the grant is set. The
// pre-BankID id opens nothing afterwards. An order belongs to the session that
// started it: another session asking about it gets "none". Every
// identification that opens the message is an "opened" event, the second
// and the tenth as the first (the audit trail keeps them all; receipts
// file only a person's first); what one grant then fetches (reloads,
// images, attachments) is part of that open.
//
// # Collecting
//
// Each pending order has one collector, on one node (its owner, first the
// node that started it), that calls /collect every 2 s while the order is
// pending, and stops for good at complete or failed. The collector, not
// the browser, acts on the result, so a denial is recorded even when the
// browser has gone. It writes the order's record only when BankID's answer
// changes (a hint, the end), and a heartbeat (table reader_orders) at most
// every 5 s otherwise; every node looks for heartbeats older than 20 s
// every 5 s (a scan of the pending orders) and one takes such an order
// over, so an order whose node died is completed through another. An order
// is ended by a write, from whichever node: cancel, logout, a new order in
// the same browser, a new order for the same person (below), the session's
// TTL or Close end it in the store and cancel it at BankID, and its
// collector, wherever it runs, finds it gone at its next write and stops.
// (Close cancels the node's own pending orders: they are not handed over.)
// Collect errors are retried up to three times in a
// row (maintenance and tooManyRequests until the order's time is up) before the
// order fails with BankID's recommended message.
//
// # BankID
//
// /auth gets endUserIp (the client's address; X-Forwarded-For only from
// Options.TrustedProxies), userVisibleData (Options.UserVisibleText, never
// message content), returnRisk, requirement.personalNumber when exactly one
// number may open the message (one login, no birth dates, not "*"), and for
// an order on the same device a returnUrl of /r/<nonce>, a random nonce of
// the order that maps back to the link only for the browser that holds the
// session: the return wakes the page and proves nothing. (Opened from the app,
// the request may count as cross-site and come without the SameSite=Strict
// cookie; /r/ then answers once with a page that refreshes to itself, a
// same-site navigation that carries it.) The link token is never sent to
// BankID. The animated QR code is computed on the server every
// second from qrStartSecret, which never reaches the browser. The page starts
// the app itself only in answer to the person's click; a reloaded page resumes
// the order and shows a link to open the app.
//
// BankID allows a person one open order, and an order with
// requirement.personalNumber is that person's: someone holding a forwarded
// link could otherwise start orders in a loop and the recipient would get
// alreadyInProgress (RFA4) every time. So a new order that names a person
// first cancels (/cancel) the gateway's pending order for the same person
// (table reader_persons), whichever browser, link and node started it, and
// that browser's page then says that another sign-in for the same person
// replaced it. Starts for one person are serialised on one node; two starts
// for one person on two nodes within the same BankID call can still meet as
// alreadyInProgress (both end, and the person starts again), which gives a
// link holder nothing the next paragraph does not. The one exception: an order whose person is already asked
// for the security code (hint userSign, reached only with that person's
// BankID) is not cancelled; the new start gets 409 and a plain "the
// recipient is identifying right now", and BankID is not called.
//
// What this leaves (a red-team pass, 2026-12-02): whoever holds any link
// that names the same person (a forwarded one, or a staff member who sends
// that person a message of their own) can restart orders for them about
// once a second within the per-link and per-IP limits, and so cancel the
// recipient's order each time before their app reaches userSign. That
// trades a lock-out by one forwarded link for one that needs a link and
// several addresses; limiting the cancellation to the link's own orders
// brings back RFA4 from another link. The next step is to cancel only an
// order of the same link, and on RFA4 from another link's order to wait
// for that order's end (its 30 s start window) rather than cancel it.
//
// A complete order is checked against the recipient (addressing.Recipient.
// Allows with completionData.user.personalNumber, never a typed number). A
// high risk answer is refused. A refusal records "denied" (number, name, IP
// and user agent of the order, and the reason in Detail).
//
// # The sender
//
// The landing page and the message name the organisation (Options.OrgName)
// and the sender the gateway vouches for (vault.Letter.Vouched: the staff
// account, or the relay's envelope sender); "from" in message.json is that
// address. The message's From header is what the sender wrote: when its
// address is another, the message shows it as "on behalf of", marked as not
// verified ("on_behalf_of" in message.json, left out otherwise), and never
// as the sender. A display name on the vouched address is not shown.
//
// # The message
//
// The original MIME message is decrypted per request with the token from the
// URL (never kept) and parsed with go-message. Text is shown as text
// (format=flowed joined); HTML is sanitised with bluemonday's UGC policy:
// no script, style, form or remote content; links get rel="nofollow
// noreferrer" and open in a new tab; image sources other than cid: parts of
// the message are removed, and cid: sources become /m/<token>/cid/<n>. An
// image from elsewhere becomes a visible note in the reader's language
// ("External image blocked: <alt>"), an image whose cid: the message lacks
// goes: no empty <img> is left.
// Attachments are served with Content-Disposition: attachment, nosniff and a
// sandboxing CSP, and types that a browser could run (HTML, SVG, XML, script)
// as application/octet-stream.
//
// # Security
//
// Every response carries a strict Content-Security-Policy (default-src
// 'none'; scripts, styles, images and fetches from 'self' only; no inline
// script or style), X-Content-Type-Options: nosniff, Referrer-Policy:
// no-referrer, frame-ancestors 'none' and X-Frame-Options: DENY; /m/ and /r/
// responses are Cache-Control: no-store; Strict-Transport-Security is sent
// when Options.Secure. POSTs pass http.CrossOriginProtection. Rate limits
// (golang.org/x/time/rate, token buckets kept per key and forgotten once idle
// long enough to be full again, with a cap on the number of keys):
//
//	per client IP (IPv6 by /64)  every request       20/s, burst 100
//	per client IP                starting an order   1/s, burst 20
//	per token and client IP      every request       5/s, burst 30
//	per token and client IP      starting an order   1 per 10 s, burst 5
//	per token                    every request       50/s, burst 300
//	per token                    starting an order   1/s, burst 20
//	per token                    sending a reply     1 per 20 s, burst 5
//
// A link's own limits count per client: one client that holds a forwarded
// link and spends its budget does not spend the recipient's. The per-token
// totals, ten times one client's, still bound the load on one link; only
// many clients at once reach them.
//
// The buckets are each node's own, in memory: with N nodes behind a load
// balancer a client gets up to N times each burst and rate. Keeping them
// in the store would cost a durable write (a commit, an fsync or a
// PostgreSQL round trip) for every request, page views and polls
// included, to guard against load that N times the figures above still
// bounds. BankID's own limits, the order cap per node and the one open
// order per person hold whatever the node.
//
// At most 10 000 orders are pending and 100 000 sessions alive at once, on
// each node.
//
// # Logging
//
// Logs name message ids and masked personal numbers (addressing.Mask), never
// tokens, session ids, nonces, bodies or whole personal numbers.
package readerweb
