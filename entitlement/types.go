package entitlement

import "time"

// Status is a customer's support status at a moment (docs/design.md §3).
type Status string

const (
	Active  Status = "active"
	Trial   Status = "trial"
	Free    Status = "free"
	Lapsed  Status = "lapsed"
	Unknown Status = "unknown"
)

// Priority of each status: active 1, trial 2, free 3, lapsed and unknown 4.
func (s Status) Priority() int {
	switch s {
	case Active:
		return 1
	case Trial:
		return 2
	case Free:
		return 3
	}
	return 4
}

// Date is a calendar date without a zone, as written in the CSV (YYYY-MM-DD).
// The zero Date means "not set".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// Customer is one licensing-system record (docs/design.md §3, CSV columns of §9).
type Customer struct {
	ID              string
	Company         string
	Contacts        []string // lower-cased addresses
	Domains         []string // lower-cased domains
	License         string   // cal | enterprise | global
	ASUPExpires     Date
	TrialExpires    Date
	Free5           bool
	ExtendedSupport bool
	HAModule        bool
	// Subscriptions held beside the support contract (docs/design.md §3): they end when
	// ASUP ends, so they count only while the customer is active.
	ResetPortal bool
	RemoteSites bool
}

// Policy is the configuration entitlement needs.
type Policy struct {
	Location              *time.Location // support time zone; expiry is end of that day there
	RequireVerifiedSender bool
	TrustedAuthservIDs    []string
	PublicDomains         []string
}

// Finder looks customers up; store implements it. A nil customer and nil error
// mean "no match".
type Finder interface {
	CustomerByContact(addr string) (*Customer, error)
	CustomerByDomain(domain string) (*Customer, error)
}

// Result is the entitlement of one sender at one moment.
type Result struct {
	Customer        *Customer // nil when unknown (also when hidden because unverified)
	MatchedBy       string    // "contact", "domain" or ""
	Status          Status
	Priority        int
	VerifiedSender  bool
	ExtendedSupport bool // active && customer.ExtendedSupport
	// Subscriptions in force: the customer's, while active ("reset_portal",
	// "remote_sites"); nil otherwise.
	Subscriptions []string
	Hidden        bool // a customer matched but the unverified sender was treated as unknown
	// NeverPurchased: lapsed, and the customer never held ASUP (no
	// asup_expires at all), as opposed to one whose ASUP expired.
	NeverPurchased bool
}
