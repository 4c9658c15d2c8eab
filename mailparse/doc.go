// Package mailparse turns the untrusted bytes of one email into a Message:
// the headers supportd decides on, the body text, the attachments, and the
// support fields read from the subject and text (ticket id, build, server
// OS, browser, whether a description and steps were given). New compiles
// the Options once (a bad ticket pattern is New's error, a configuration
// error); the Parser is safe for concurrent use. The package is pure: no
// network, store, clock, or globals but compiled expressions.
//
// # Invariants
//
//   - Parse never panics (a recover makes a bug the problem
//     "internal_error") and always returns a Message; its error is only the
//     reader's. Oddities are Message.Problems: short stable tokens, sorted,
//     unique, never nil.
//   - Header strings are free of control characters (no header injection
//     into a reply: =?utf-8?q?x=0D=0ABcc:_a@b?= reads "x Bcc: a@b").
//     Addresses are lower-cased; message ids keep their brackets.
//   - One reading of From: Author is the From field's one mailbox, the
//     address a DMARC check judges. A From that is not exactly one mailbox
//     has no author ("ambiguous_from"); From then holds only the single
//     address MTAs read (its one angle-addr), for the reply, or nil.
//   - Attachments are hashed while streamed, never held; body text is kept
//     up to MaxTextBytes. Limits bound the message, each header block, the
//     parts walked and their depth (go-message has no cap on either).
//
// # Body text
//
// text/plain is preferred; without it HTML is converted (blocks and <br>
// break lines, table cells are split by a tab, lists get "- " or "1. ",
// blockquotes "> "). An attached message/rfc822 counts as body (a forwarded
// report) and as an attachment; a report inside it does not make the
// message a report. Undeclared 8-bit text is read as Windows-1252.
//
// # Problem tokens
//
//	empty_message, malformed_header, header_too_large, message_too_large,
//	too_many_parts, too_deep, no_from, ambiguous_from, no_message_id,
//	no_date, bad_date, malformed_address: <Field>, bad_encoded_word: <Field>,
//	bad_content_type, bad_content_disposition, missing_boundary,
//	missing_final_boundary, bad_multipart, unknown_charset: <name>,
//	unknown_encoding: <name>, undeclared_charset, bad_base64,
//	bad_quoted_printable, bad_body, bad_entity, internal_error: <detail>
//
// # Extraction
//
// Extract reads the subject and the first 64 KiB of text. The ticket id
// (Options.TicketPattern) may be quoted (it marks a follow-up); every other
// field comes from the customer's own text only: quoted lines and replies
// below "On … wrote:" do not count, nor do examples ("e.g.", "for example",
// "such as") or a form's prompts left unfilled. The build is a labelled
// field first, else the one the customer is on now ("from X to Y",
// "upgraded to Y", "now on Y"), else the highest mentioned; an OS build is
// not one. The server OS is normalised to Options.ServerOSes. HasDescription
// wants about twelve words of the customer's prose or a "Description:"
// section; HasSteps a steps phrase, "Step 1", or a numbered or bulleted list.
package mailparse
