// Package apikey owns the REST API's keys: making one for a staff account
// (the key is shown once), listing, revoking, and telling which key and
// account a presented key is and what its scopes allow. It speaks no HTTP
// (package api does) and logs nothing.
//
// It sits beside the notifier in the import order (vault → apikey → api →
// cmd) and keeps its records in tables of its own through the vault's hook
// (vault.Hook, with no Appended: it only needs the tables), so it runs on
// any engine the vault has.
//
// # Keys
//
// A key is "sgl_" and 43 characters of base64url: 256 random bits, in the
// characters A-Za-z0-9_- only, so it survives shells, headers and URLs
// unquoted, and its prefix lets a secret scanner recognise one that leaked.
// Only the SHA-256 of a key is stored. A password needs a slow hash
// (argon2id, as the vault keeps staff passwords) because people choose
// guessable ones and a stolen hash could be tried against a dictionary; a
// key of 256 random bits has no dictionary, and finding one whose hash
// matches is as hard as guessing it. A fast hash is therefore as safe here
// and lets every request be checked without the 64 MiB and the tens of
// milliseconds an argon2id run costs. It also makes the hash the look-up
// key: a presented key is found by its hash, and a wrong one costs the
// same single look-up whatever its bytes (timing shows nothing about the
// stored hashes, since the attacker cannot choose a hash's bytes).
//
// # Lifetime
//
// A key belongs to one account. Authenticate checks, in the same read as
// the key, that the account still exists: removing an account ends its
// keys at once, and making an account again with the same address does
// not bring them back (their records say whose they were; Create refuses
// an unknown account). A revoked key keeps its record, for the listing
// and the audit, but loses its hash, so it can never authenticate again.
//
// # Tables
//
// apikeys (id → the key's record as JSON) and apikey_hashes (SHA-256 of
// the key → id).
package apikey
