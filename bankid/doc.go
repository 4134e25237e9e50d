// Package bankid owns what a production gateway says to and about Swedish
// BankID: a client for BankID's RP API v6.0 (/auth, /collect, /cancel), its
// wire types and error codes, the animated QR code and the autostart links
// that start the BankID app, BankID's recommended user messages (RFA texts)
// in Swedish and English, and the pinned SSL roots of BankID's two
// environments.
//
// The simulator that speaks the same wire format, so that the real client
// code is what development and the tests exercise, lives beside it in
// bankid/bankidsim; the throwaway certificates both ends of its mutual TLS
// use come from internal/devpki. Neither is part of this package's API.
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
// The package never logs.
package bankid
