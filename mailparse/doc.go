// Package mailparse turns the untrusted bytes of one email into a Message:
// the envelope-ish headers supportd decides on (From, Reply-To, Message-ID,
// In-Reply-To, References, Return-Path, Auto-Submitted, Precedence, List-*,
// X-Auto-Response-Suppress, X-Loop, Authentication-Results, report types), the
// body text, the attachments, and the support fields extracted from the
// subject and text (ticket id, build number, server OS, browser, whether a
// description and steps to reproduce were given). docs/design.md §2.
//
// New compiles the Options (the ticket pattern: a bad one is New's error,
// so a configuration error, never a per-message one) into a Parser, which
// is safe for concurrent use. The package is pure: no network, no store, no
// clock, no globals but compiled regular expressions.
//
// # Invariants
//
//   - Parser.Parse never panics (a recover turns an internal bug into the problem
//     "internal_error") and always returns a non-nil *Message. Its error is
//     only for a failure of the reader itself; a malformed message is not an
//     error: its oddities are listed in Message.Problems as short stable
//     tokens, optionally followed by ": detail" (see below), sorted and
//     de-duplicated, never nil.
//   - Every string taken from a header (Subject, display names, addresses,
//     List-Id, …) is free of control characters: CR, LF and the rest are
//     replaced by a space, so none of it can inject a header into a reply
//     (=?utf-8?q?x=0D=0ABcc:_a@b?= decodes to "x Bcc: a@b").
//   - One reading of From: Message.Author is the From field's one mailbox,
//     the address a DMARC check judges. A From that is not exactly one
//     mailbox (a list, a group, two fields, an address as display name
//     before another angle-addr) has no author ("ambiguous_from"); From
//     then holds only the single address MTAs read (the one angle-addr),
//     for a reply, or is nil.
//   - Addresses are lower-cased (local part too: supportd matches them
//     case-insensitively). Message identifiers keep their angle brackets.
//   - The message is streamed through go-message: attachments are hashed
//     (SHA-256) and counted while read, never held in memory; body text is
//     kept only up to Limits.MaxTextBytes.
//
// # Limits
//
// Limits bound every reader (DefaultLimits for zero fields): the whole
// message (MaxMessageBytes, "message_too_large": the rest is not read), a
// header block (MaxHeaderBytes, "header_too_large": the rest of that block
// is skipped), MIME parts walked (MaxParts, "too_many_parts": the walk stops,
// what was gathered is kept), nesting depth of multiparts and encapsulated
// messages (MaxDepth, "too_deep": that subtree is skipped) and body text
// (MaxTextBytes). go-message itself has no cap on parts or depth.
//
// # Body text
//
// text/plain parts are preferred; without one, HTML parts are converted to
// text (block elements and <br> become line breaks, table cells are separated
// by a tab and rows by a line break, list items get "- " or "1. ",
// blockquotes get "> ", script and style are dropped, entities decoded).
// Parts of an attached message/rfc822 count as body too (a forwarded
// report), and the attached message is listed as an attachment; a
// delivery-status or disposition-notification part inside such an attached
// message does not make this message a report (a customer forwarding a
// bounce is not a bounce). HTML parts are converted only when the message
// has no plain text at all. Any charset
// go-message knows is decoded to UTF-8; undeclared 8-bit text is read as
// Windows-1252 ("undeclared_charset"); an unknown charset keeps the raw bytes
// ("unknown_charset: name").
//
// # Problem tokens
//
//	empty_message, malformed_header, header_too_large, message_too_large,
//	too_many_parts, too_deep, no_from, ambiguous_from, no_message_id,
//	no_date, bad_date,
//	malformed_address: <Field>, bad_encoded_word: <Field>,
//	bad_content_type, bad_content_disposition, missing_boundary,
//	missing_final_boundary, bad_multipart, unknown_charset: <name>,
//	unknown_encoding: <name>, undeclared_charset, bad_base64,
//	bad_quoted_printable, bad_body, bad_entity,
//	internal_error: <detail>
//
// # Extraction
//
// Parser.Extract (called by Parse) searches the subject and the first 64 KiB of the
// body text. It reads the ticket id (Options.TicketPattern,
// case-insensitive, first in the subject, else the body — a quoted older id
// counts: it marks a follow-up), the build number ("Build Number: 8973",
// "build no. 9653", "Build #9100", a table cell pair …, not a Windows OS
// build), the server OS normalised to a name of Options.ServerOSes (a
// Windows version outside the list keeps its canonical name), the browser
// (named with a version, or a pasted User-Agent) and two heuristics:
// HasDescription (about twelve words of the customer's own prose, quoted
// text, signature, greetings and labelled fields not counted, or a
// "Description:" section) and HasSteps ("steps to reproduce", "Step 1", a
// numbered list, or a bulleted list with an action).
package mailparse
