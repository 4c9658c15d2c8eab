// Package security holds supportd's security tests (issue 4, item 7). It has no
// production code: everything is in its _test.go files.
//
// What is proved, each by a test that fails when the property breaks:
//
//   - certificate verification is always on: the poller, the mailer and
//     `supportd run` refuse a self-signed IMAP (Dovecot) or SMTP (go-smtp) server
//     unless its CA is given (imap.ca_file / smtp.ca_file); `config check` refuses
//     tls: none towards a non-loopback address;
//   - secrets never reach the logs: the built binary runs `run` (good and wrong
//     passwords, OAuth2 refresh token and client secret in files) and
//     `config check` at debug level in text and JSON, and every byte of output is
//     searched for the secrets and their base64 / SASL encodings;
//   - header injection through the subject, display names and ticket ids, and
//     Reply-To hijacking, checked on the raw source Mailpit received;
//   - a spoofed sender with security.require_verified_sender on learns nothing of
//     the contract (its reply equals an unknown sender's), while the same sender
//     with a trusted dmarc=pass gets the customer's acknowledgement;
//   - the store and its backups (direct, and through a running daemon's /backup)
//     are created 0600 even under umask 000;
//   - hostile CSV rows: formulas are neutralised on export, over-long fields are
//     rejected naming the line.
//   - hostile senders (issue 13; README "Hostile senders" lists each attack and
//     its test): DMARC aligned with the From domain, replies counted by the
//     normalised reply target with hourly caps for unknown senders, no link
//     echoed to an unknown sender, sales copied once per customer per day, a
//     rate-limited question still a routed ticket with the reason for staff, a
//     replayed Message-ID a new flagged message, staff subjects without the
//     sender's tags, a store directory others can write refused, and the
//     metrics listener deaf to a foreign Host (DNS rebinding).
//
// The binary is built once per test run (TestMain) with the go tool of the
// running toolchain; the mail servers come from internal/testenv.
package security
