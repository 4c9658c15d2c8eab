// Package triage decides the one action supportd takes for a new message
// (docs/design.md §6) and everything that follows from it: the ticket, the missing
// information, the automatic reply's envelope and headers, and the routing for
// staff.
//
// Decide is pure: every input (entitlement, SLA, version check, known ticket,
// the sender's recent reply count) is gathered by the caller first, so the same
// Input always gives the same Decision.
//
// Invariants:
//   - Exactly one action, the first that applies: suppress, follow_up,
//     lapsed_notice, unsupported_version, acknowledge.
//   - Never an automatic reply to automatic mail (RFC 3834): Auto-Submitted,
//     Precedence bulk/junk/list, List-*, reports, null or system senders,
//     X-Auto-Response-Suppress, our own addresses or X-Loop, and a sender over
//     the daily reply limit. The rate limit does not apply to follow-ups: they
//     send nothing, so there is nothing to limit.
//   - Every message gets a ticket id, suppressed ones included (they are still
//     routed to staff under a ticket): the known ticket for follow-ups and for
//     suppressed messages of a known ticket (TicketNew false), else the id the
//     customer quoted (new to us), else Input.NewTicketID (TicketNew true).
//   - Nothing from the incoming message reaches a header unsanitised: subjects
//     and names go through SanitizeHeader (no CR, LF or other control
//     characters, bounded length), addresses and message ids are checked and
//     dropped when they could break a header.
//   - A Reply-To outside the From domain is followed only for a verified sender
//     (entitlement.ReplyTarget), and never when it points at one of our own
//     addresses.
//   - The reply's Message-ID is a function of the ticket, the incoming
//     Message-ID (or Input.ContentKey) and our domain, so a resend is
//     recognisable.
package triage
