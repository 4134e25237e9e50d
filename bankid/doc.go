// Package bankid owns everything sigill says to and about Swedish BankID:
// a client for BankID's RP API v6.0 (/auth, /collect, /cancel), the animated
// QR code and the autostart links that start the BankID app, BankID's
// recommended user messages (RFA texts) in Swedish and English, and a
// simulator that speaks the same wire format, so that the real client code is
// what development and the tests exercise.
//
// # Client
//
// [NewClient] takes a [Config]: the environment ([Test] or [Production]),
// the organisation's RP certificate as PKCS#12 (BankID delivers AES-encrypted
// .p12 files, which is why go-pkcs12 reads them), and optionally a CA that
// replaces the pinned root. The client trusts only BankID's SSL root for the
// chosen environment, embedded in roots/, never the system pool: a server
// with a certificate from an ordinary web CA, or from BankID's other
// environment, is refused.
//
// Every error answer from BankID becomes an [*APIError] whose Code is one of
// the [ErrorCode] constants, so callers write
//
//	if errors.Is(err, bankid.ErrAlreadyInProgress) { ... }
//
// Answers are decoded tolerantly: unknown fields are ignored, unknown hint
// codes are kept as they are (and [Message] maps them to RFA21 or RFA22), and
// bankIdIssueDate is read with or without a zone. A complete answer without a
// personal number is refused, because a caller must never act on one.
//
// # Starting the app
//
// [QRData] computes the animated QR string of one second, [QRSVG] draws it as
// an inline SVG, and [LaunchURL] makes the autostart link for the same device.
// The qrStartSecret stays on the server: only QRData's output reaches a
// browser.
//
// # Simulator
//
// [Simulator] is an http.Handler for /rp/v6.0/ with BankID's rules (POST
// only, application/json only, mutual TLS, UUID tokens, lowercase statuses,
// startFailed after 30 s unscanned, expiredTransaction after 3 minutes,
// alreadyInProgress, switchable faults) on an injectable clock. It also plays
// the user's phone: [Simulator.Approve], [Simulator.Scan] and
// [Simulator.Cancel] from Go, and [Simulator.PhoneHandler] for the dev pages
// at /dev/bankid. [NewDevPKI] makes the throwaway CA, server certificate and
// RP certificate that `sigill dev` runs it with, and [Simulator.Server]
// returns the TLS server for its listener.
//
// The package never logs. Where a personal number has to appear in text a
// person reads (the simulator's phone page, error messages), it is masked as
// 19990807-****.
package bankid
