// Package bankidsim owns the BankID simulator of development and tests: a
// server that speaks BankID's RP API v6.0 wire format (the types of package
// bankid), so that the real bankid.Client is what `sigill dev`,
// `sigill bankid-simulator` and the tests exercise, and the simulated phone
// that picks orders up and approves them. It imports bankid, never the other
// way round.
//
// [Simulator] is an http.Handler for /rp/v6.0/ with BankID's rules (POST
// only, application/json only, mutual TLS, UUID tokens, lowercase statuses,
// startFailed after bankid.StartTimeout unscanned, expiredTransaction after
// bankid.OrderTimeout, alreadyInProgress, switchable faults) on an injectable
// clock. It also plays the user's phone: [Simulator.Approve],
// [Simulator.Scan] and [Simulator.Cancel] from Go, and
// [Simulator.PhoneHandler] for the dev pages at /dev/bankid.
// [Simulator.Server] returns the TLS server for its listener with the
// certificates of an internal/devpki PKI, and [ClientConfig] the
// bankid.Config of a client that talks to it.
//
// The simulator lets anyone sign in as anyone: its callers listen on
// loopback only. It never logs. Where a personal number has to appear in
// text a person reads (the phone page, error messages), it is masked as
// 19990807-****.
package bankidsim
