// Package entitlement decides what support a sender is entitled to (docs/design.md §3).
//
// It is pure: no store, no network, no clock. The caller looks customers up
// through a Finder (the store implements it), checks the sender with Verified
// against the Authentication-Results headers of trusted servers, and evaluates
// the status at the message's receipt time with Evaluate.
//
// Invariants:
//   - Status is evaluated in the fixed order active, trial, free, lapsed, unknown.
//   - An expiry date is inclusive: it lasts to the end of that day in the support
//     time zone (Policy.Location), daylight saving included.
//   - With Policy.RequireVerifiedSender, an unverified sender who matches a
//     customer is treated as unknown and the Result carries nothing of the
//     contract (Customer nil, Hidden true).
//   - Verified never panics on malformed headers; they are ignored (fail closed).
//   - A Reply-To outside the From domain is followed only for a verified sender
//     (ReplyTarget).
//
// Limits: domain matching is exact (a sender at eu.acme.test does not match a
// customer domain acme.test); DKIM alignment is the "relaxed" rule simplified to
// "equal, or one is a subdomain of the other" without a public-suffix list, so a
// bare top-level domain never aligns.
package entitlement
