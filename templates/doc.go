// Package templates renders the bodies of supportd's automatic replies and of
// the staff-queue copy's preface.
//
// The templates are text/template files embedded in the binary (ack_active,
// ack_trial, ack_free, ack_unknown, lapsed, unsupported, staff, and the partials
// missing and extended). An operator may override any of them: a file with the
// same name in the override directory replaces the embedded one. New checks
// that every template parses and executes against sample data, so a broken
// override is reported at start-up, naming the file, and not when a customer
// writes in.
//
// Invariants: Render produces only a body (text/plain, UTF-8, LF line endings,
// no trailing spaces, at most one blank line in a row, ending in one newline);
// headers are never built here. Data is plain values: the caller formats the
// deadline (sla.FormatDeadline) so this package depends on nothing but the
// standard library. text/template does no escaping, which is right for
// text/plain; nothing here is ever rendered as HTML.
package templates
