// Package mailer delivers supportd's outgoing mail over SMTP submission
// (go-smtp client) and builds the outgoing RFC 5322 messages: automatic
// replies to customers (ComposeReply) and routed copies for the staff
// queue (StaffCopy, ComposeStaffCopy).
//
// # Sending
//
// A Mailer talks to one submission server (smtp.address) with implicit
// TLS, STARTTLS (required, never opportunistic) or, on loopback only, no
// TLS. Certificates are always verified; there is no switch to turn that
// off, a private CA goes in Config.TLSConfig.RootCAs. Authentication is
// PLAIN (when offered), LOGIN (Office 365), XOAUTH2 (Gmail, Microsoft 365;
// a token is taken from the oauth2.TokenSource before every connection, so
// an oauth2.ReuseTokenSource refreshes an expired one) or OAUTHBEARER.
//
// SendBatch opens up to MaxConns sessions and sends many envelopes over
// each. An envelope is all-or-nothing: a refused recipient aborts it
// before DATA (RSET, and the session carries on), so a retry never
// duplicates it to the recipients that had been accepted. A session the
// server closed (421, idle timeout) is replaced; an envelope that failed
// on a reused session before its body was sent is retried once on the new
// one. go-smtp has no context support: the Mailer dials with its own
// net.Dialer under ctx, closes the connection when ctx is done, and bounds
// every step with a deadline (DialTimeout, CommandTimeout, DataTimeout:
// go-smtp's own defaults are 30 s, 5 min and 12 min, and it sets none while
// the message body is written). Nothing stays connected between calls;
// Close aborts in-flight calls and waits for them.
//
// # Classification
//
// Every error is exactly one of permanent or temporary (IsPermanent,
// IsTemporary; both survive wrapping):
//   - permanent: a 5xx reply to MAIL, RCPT or DATA (the server's words are
//     in the error: "smtp rcpt <bob@x.test>: 550 5.1.1 user unknown"), an
//     invalid envelope, a message larger than the server's SIZE. Never
//     retried: the outbox quarantines the message and routes it to staff.
//   - temporary: 4xx replies, network errors, timeouts, a cancelled
//     context, a closed Mailer, and every failure before the transaction:
//     connect, TLS, EHLO, STARTTLS missing, AUTH (even a 5xx such as 535),
//     an OAuth2 token refresh. Those are configuration or server problems,
//     not the message's; quarantining every reply would not fix them, and
//     the mail stays queued until they are fixed.
//   - A TLS certificate verification failure is temporary too, and is
//     logged at error level (IsTLSVerification lets the daemon show it):
//     the mail waits for an operator to fix smtp.address or smtp.ca_file
//     instead of being dropped or sent to an unverified server.
//
// A temporary failure is retried with Backoff / RetryPolicy.Delay: 1m, 2m,
// 4m … capped at 1h, with optional deterministic jitter keyed by the
// Message-ID. RetryPolicy.Permanent turns a temporary failure final after
// MaxAge (default 4 days, RFC 5321 §4.5.4.1: give up after 4-5 days).
//
// # The RFC 1047 window
//
// If the connection is lost after the final "." and before the server's
// reply, the server may have accepted the message although the client saw
// an error. Such errors are temporary with Error.MaybeDelivered set; the
// retry may deliver a duplicate. Replies carry a deterministic Message-ID
// derived from ticket and message (and staff copies one derived from their
// content), so the duplicate is recognisable by the recipient and by
// supportd's own intake. This is inherent to SMTP, not a bug to fix here.
//
// # Composing
//
// Every value that can come from an incoming message (subject, display
// names, ticket ids, X-Support-* values, Message-IDs) is sanitised before
// it reaches a header: control characters (C0, DEL, C1) and Unicode line
// separators become spaces, invalid UTF-8 is repaired, long text is cut;
// values are set through go-message's typed setters, which RFC 2047-encode
// them, and text that looks like an encoded word is always encoded (so no
// reader decodes it into a line break). Message-IDs that are not a plain
// msg-id are dropped from References/In-Reply-To and refused as the
// reply's own Message-ID. No header injection is possible; a composition
// error is a programming error for the caller to quarantine.
//
// Replies carry Auto-Submitted: auto-replied and X-Auto-Response-Suppress:
// All (no Precedence field: RFC 3834 §3.1.8 advises against it). Staff
// copies carry Auto-Submitted: auto-generated, the routing X-Support-*
// fields, a text/plain preface and the original as message/rfc822 (8bit:
// RFC 2046 forbids base64 there), byte for byte when its lines are CRLF and
// at most 998 octets, else with line endings made CRLF and long lines broken. Staff copies do not
// set Reply-To to the customer: a staff reply would leak the internal
// subject tags and preface to the customer outside the ticket thread.
//
// # Limits
//
// Messages are []byte: SendBatch holds its envelopes in memory, and
// StaffCopy builds the whole copy in memory (bounded by MaxOriginalBytes).
// No pooling across calls, no pipelining, no BDAT/CHUNKING, no DSN
// parameters. With starttls, the EHLO before the TLS handshake says
// "localhost" (go-smtp does not let it be set there).
package mailer
