// Package intake owns what makes a sender's message a vault.Incoming, the
// rules every door into the gateway shares: SMTP's DATA (smtpd) and the
// REST API's send (api), which builds its MIME message and then hands it
// over exactly as SMTP does. The rules: a message is not empty, its header
// reads, it is not larger than smtp.max_message_bytes, its Subject (the
// errand, sent in clear by SMS) holds no personal number, its From header
// names no one else than the sender the gateway vouches for (when
// smtp.from_header = "refuse"), an empty Subject becomes the default errand
// in the first recipient's language, and a recipient written twice (the
// same canonical local part) counts once.
//
// Each refusal is an error of its own type, so that each door says it in
// its protocol's words (smtpd's reply.go, api's problem details) without a
// second copy of the rule. The package parses the header only; the body is
// stored as the sender wrote it. Compose writes the MIME message of a door
// that composes one itself (the API, the staff web). It logs nothing and
// counts nothing: the doors do, each under its own metric names.
package intake
