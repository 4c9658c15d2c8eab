// Package mailer delivers supportd's outgoing mail over SMTP submission
// (go-smtp client) and builds the outgoing RFC 5322 messages: automatic replies
// (ComposeReply) and routed copies for the staff queue.
//
// Model. A Mailer talks to one submission server (smtp.address) with implicit
// TLS, STARTTLS (required, never opportunistic) or, to a loopback address only,
// no TLS; certificates are always verified (a private CA goes in
// Config.TLSConfig.RootCAs). AUTH is PLAIN, LOGIN, XOAUTH2 or OAUTHBEARER, with
// a fresh OAuth2 token per connection and the password read again before each
// login when Config.PasswordFunc is set. SendBatch sends many envelopes over up
// to MaxConns sessions; every step is bounded (DialTimeout, CommandTimeout,
// DataTimeout) and cancelled with its context.
//
// Invariants.
//   - An envelope is all or nothing: a refused recipient aborts it before DATA,
//     so a retry never duplicates it to recipients already accepted.
//   - Every error is exactly one of permanent (a 5xx to RCPT or DATA, an
//     invalid envelope, a message over the server's SIZE: never retried) or
//     temporary (4xx, network, timeouts, and every failure before the
//     transaction, AUTH and TLS verification included: the mail stays queued
//     until an operator fixes the configuration). A 5xx that refuses us
//     rather than the message is temporary too, a configuration fault
//     (Error.Policy): any 5xx to MAIL FROM, a 5.7.x refusal of the
//     transaction (the login may not send as smtp.from), a refusal of our
//     EHLO name (Error.HELO, smtp.helo_name), wherever the server reports it.
//     A refused AUTH is also counted and reported (AuthFailures).
//   - Temporary failures are retried with Backoff (1m doubling to 1h).
//   - A connection lost between the final "." and the reply may have
//     delivered (RFC 1047): a retry can duplicate, which the deterministic
//     Message-ID makes recognisable; with SendBatchRecorded the caller records
//     each acceptance before the next message goes out on that connection.
//   - Nothing from an incoming message reaches a header unsanitised
//     (internal/mailtext); values go through go-message's typed setters (RFC
//     2047). Replies carry Auto-Submitted: auto-replied and
//     X-Auto-Response-Suppress: All; staff copies Auto-Submitted:
//     auto-generated, the X-Support-* fields and the original as
//     message/rfc822, and no Reply-To to the customer.
//
// Limits. Messages are []byte held in memory (staff copies bounded by
// MaxOriginalBytes); no pipelining, BDAT or DSN parameters.
package mailer
