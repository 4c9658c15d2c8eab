// Package mailparse turns the untrusted bytes of one email into a Message:
// the headers supportd decides on, the body text, the attachments, and the
// support fields read from the subject and text (ticket id, build, server
// OS, browser, whether a description and steps were given). New compiles
// the Options once (a bad ticket pattern is a configuration error); a
// Parser is safe for concurrent use. The package is pure: no network,
// store, clock, or globals but compiled expressions.
//
// # Invariants
//
//   - Parse never panics (a recover makes a bug the problem
//     "internal_error") and always returns a Message; its error is only the
//     reader's. Oddities are Message.Problems: short stable tokens
//     (docs/design.md §2 lists them), sorted, unique, never nil.
//   - Header strings are free of control characters (no header injection
//     into a reply). Addresses are lower-cased; message ids keep brackets.
//   - One reading of From: Author is the From field's one mailbox, the
//     address DMARC judges; otherwise "ambiguous_from", no author, and From
//     holds at most the single address an MTA would reply to.
//
// # Limits
//
// Limits bound the message, each header block, the MIME parts walked and
// their depth (go-message caps neither), and the body text kept.
// Attachments are hashed while streamed, never held. Extraction reads the
// subject and the first 64 KiB of text, in time linear in it.
//
// # Body text
//
// text/plain is preferred; without it HTML is converted (blocks and <br>
// break lines, table cells are split by a tab, lists get "- " or "1. ",
// blockquotes "> "). An attached message/rfc822 counts as body and as an
// attachment. Undeclared 8-bit text is read as Windows-1252.
//
// # Extraction
//
// The ticket id (Options.TicketPattern) may be quoted (it marks a
// follow-up); every other field comes from the customer's own text only:
// not quoted lines, replies below "On … wrote:", examples ("e.g.") or a
// form's unfilled prompts. The build is a labelled field, else the one the
// customer is on now ("upgraded to Y"), else the highest mentioned. The
// server OS is normalised to Options.ServerOSes.
package mailparse
