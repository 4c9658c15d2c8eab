package triage

import (
	"time"

	"supportd/entitlement"
	"supportd/mailparse"
	"supportd/sla"
	"supportd/versions"
)

// Action is the one thing supportd does with a new message (docs/design.md §6), chosen in
// this order: Suppress, FollowUp, LapsedNotice, UnsupportedVersion, Acknowledge.
type Action string

const (
	Suppress           Action = "suppress"
	FollowUp           Action = "follow_up"
	LapsedNotice       Action = "lapsed_notice"
	UnsupportedVersion Action = "unsupported_version"
	Acknowledge        Action = "acknowledge"
	// StaffReply: an accepted reply from staff to a ticket (§10): relayed to
	// the customer, or a note or command; never an automatic reply.
	StaffReply Action = "staff_reply"
)

// Missing-information tokens, in the order docs/design.md §7 fixes.
var MissingOrder = []string{"build", "server_os", "browser", "screenshots", "description", "steps_to_reproduce"}

// Config is what triage needs from configuration.
type Config struct {
	OwnAddresses  []string // support.addresses
	SalesAddress  string   // support.sales_address
	SalesBrief    bool     // support.sales_brief: a brief to sales with the CC
	StaffQueue    string   // support.staff_queue
	RepliesPerDay int      // limits.auto_replies_per_sender_per_day (0 = DefaultRepliesPerDay)
	// Hourly caps on automatic replies to senders that are not known
	// customers (0 = the defaults): limits.unknown_replies_per_domain_per_hour,
	// limits.unknown_replies_per_hour.
	UnknownRepliesPerDomainPerHour int
	UnknownRepliesPerHour          int
	Rules                          []Rule // routing rules
}

// Rule routes matching messages to a folder and/or forward addresses. Empty match
// fields match anything; the first matching rule with a Folder wins; forwards add up.
type Rule struct {
	Name      string
	Statuses  []string // entitlement statuses
	Actions   []string
	Priority  []int
	Folder    string
	ForwardTo []string
}

// Input is everything the decision depends on; all of it is gathered before Decide
// so that Decide is pure.
type Input struct {
	Msg         *mailparse.Message
	Received    time.Time // IMAP INTERNALDATE
	Entitlement entitlement.Result
	SLA         sla.Result
	Version     versions.Result
	// KnownTicket is the id of an existing ticket this message belongs to (a known
	// ticket id quoted in it, or In-Reply-To/References of a known message); "" if none.
	KnownTicket string
	// NewTicketID is the id to use when the message opens a ticket and quotes none.
	NewTicketID string
	// Replies are the automatic replies already recorded under the counters
	// of this message's reply (CounterKeys of ReplyTarget).
	Replies ReplyCounts
	// ContentKey identifies the message when it has no Message-ID (e.g. the
	// sha256 of its bytes); it seeds the reply's deterministic Message-ID.
	ContentKey string
	// ReferencedTicket is a ticket the message named but may not follow up
	// (another customer's, or closed too long ago): it opens its own ticket.
	ReferencedTicket string
	// Staff is set when the sender is on support.staff; StaffAccepted when its
	// reply may act on KnownTicket (addressed to the ticket's signed reply
	// address, or verified by a trusted Authentication-Results).
	Staff, StaffAccepted bool
	// OwnMessage: the message is one supportd sent (its Message-ID is in the
	// outbox), come back through an alias or a Sent folder: never routed again.
	OwnMessage bool
	// Bounce: a delivery report of one of our messages; KnownTicket is that
	// message's ticket.
	Bounce bool
}

// Reply is an automatic reply to send.
type Reply struct {
	To       []string `json:"to"`
	Cc       []string `json:"cc"`
	Subject  string   `json:"subject"`
	Template string   `json:"template"` // kind: "ack", "lapsed", "never_purchased" or "unsupported"
	// TemplateFile is the status-specific template to render (templates.TemplateName):
	// ack_active, ack_trial, ack_free, ack_unknown, lapsed or unsupported.
	TemplateFile string   `json:"-"`
	InReplyTo    string   `json:"-"`
	References   []string `json:"-"`
	MessageID    string   `json:"-"` // deterministic: derived from ticket and incoming message
	// Counters are the reply-counter keys to record the reply under when it
	// is enqueued (sender, ticket, unknown caps, sales copy).
	Counters []string `json:"-"`
	// SalesBrief: the internal brief to sales goes with this reply (a
	// lapsed or never-purchased notice whose CC goes to sales).
	SalesBrief bool `json:"-"`
}

// Route is how the message reaches staff.
type Route struct {
	Keywords  []string `json:"keywords"`
	Folder    *string  `json:"folder"`
	ForwardTo []string `json:"forward_to"`
}

// Decision is the single outcome for one message.
type Decision struct {
	Action         Action
	SuppressReason string // "" unless Suppress
	// NoReplyReason tells staff in words why no automatic reply went out (the
	// staff copy's X-Support-No-Reply-Reason); "" when one did or none was due.
	NoReplyReason string
	TicketID      string
	TicketNew     bool
	Missing       []string
	Reply         *Reply // nil for Suppress and FollowUp
	Route         Route
	StaffSubject  string // "[CS-004211][P1][ASUP] original subject"
	// ReferencedTicket: see Input.ReferencedTicket ("" if none).
	ReferencedTicket string
	// UnverifiedStaff: mail from a staff address that failed the checks of
	// §10; never relayed, routed flagged.
	UnverifiedStaff bool
	// Bounce: see Input.Bounce.
	Bounce bool
}
