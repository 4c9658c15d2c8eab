package entitlement

import "time"

// Evaluate gives the entitlement of a sender at time at (the message's receipt
// time). c is the matched customer (nil when none), matchedBy the kind Match
// returned, verified what Verified returned.
//
// Statuses, the first that applies: active (ASUP not expired), trial (unexpired
// trial), free (Free for 5 Users), lapsed (a known customer with none of these),
// unknown (no customer). Expiry dates are inclusive to the end of that day in
// p.Location. With p.RequireVerifiedSender, an unverified sender who matched a
// customer is unknown, priority 4, and the Result says nothing of the contract
// (Customer nil, MatchedBy "", Hidden true).
func Evaluate(c *Customer, matchedBy string, verified bool, at time.Time, p Policy) Result {
	r := Result{VerifiedSender: verified}
	switch {
	case c == nil:
		r.Status = Unknown
	case p.RequireVerifiedSender && !verified:
		r.Status = Unknown
		r.Hidden = true
	default:
		r.Customer = c
		r.MatchedBy = matchedBy
		r.Status = status(c, at, p.Location)
		r.ExtendedSupport = r.Status == Active && c.ExtendedSupport
		r.NeverPurchased = r.Status == Lapsed && c.ASUPExpires.IsZero()
		if r.Status == Active {
			if c.ResetPortal {
				r.Subscriptions = append(r.Subscriptions, "reset_portal")
			}
			if c.RemoteSites {
				r.Subscriptions = append(r.Subscriptions, "remote_sites")
			}
		}
	}
	r.Priority = r.Status.Priority()
	return r
}

func status(c *Customer, at time.Time, loc *time.Location) Status {
	switch {
	case c.ASUPExpires.Covers(at, loc):
		return Active
	case c.TrialExpires.Covers(at, loc):
		return Trial
	case c.Free5:
		return Free
	}
	return Lapsed
}

// Keyword is the IMAP keyword of a status (docs/design.md §6): ASUP, Trial, Free, Lapsed,
// Unknown. Any other value gives Unknown.
func (s Status) Keyword() string {
	switch s {
	case Active:
		return "ASUP"
	case Trial:
		return "Trial"
	case Free:
		return "Free"
	case Lapsed:
		return "Lapsed"
	}
	return "Unknown"
}
