package daemon

import (
	"testing"

	"github.com/emersion/go-smtp"

	"supportd/mailer"
	"supportd/store"
)

// Which failures of a round are a configuration fault (kept queued) rather
// than the messages' (failed permanently, staff told).
func TestConfigFault(t *testing.T) {
	refusal := func(op string, code int, ec smtp.EnhancedCode, policy bool) error {
		return &mailer.Error{Op: op, Policy: policy, Temporary: policy, Err: &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: "no"}}
	}
	unknown := func() error { return refusal("rcpt", 550, smtp.EnhancedCode{5, 1, 1}, false) }
	blocked := func() error { return refusal("data", 554, smtp.EnhancedCode{5, 6, 0}, false) }
	due := func(n int) []store.OutboxEntry { return make([]store.OutboxEntry, n) }
	cases := []struct {
		name   string
		due    int
		failed []error
		fault  bool
	}{
		{"policy refusal of our sender", 3, []error{refusal("rcpt", 553, smtp.EnhancedCode{5, 7, 1}, true)}, true},
		{"one unknown user among three", 3, []error{unknown()}, false},
		{"the same 554 for every message of a round", 3, []error{blocked(), blocked(), blocked()}, true},
		{"the same 550 5.1.1 for a round of one", 1, []error{unknown()}, false},
		{"different refusals", 2, []error{unknown(), blocked()}, false},
		{"all temporary", 2, []error{&mailer.Error{Op: "dial", Temporary: true}, &mailer.Error{Op: "dial", Temporary: true}}, false},
	}
	for _, c := range cases {
		var rs []sendResult
		for i, err := range c.failed {
			rs = append(rs, sendResult{i, err})
		}
		if got := configFault(due(c.due), rs) != nil; got != c.fault {
			t.Errorf("%s: configuration fault %v, want %v", c.name, got, c.fault)
		}
	}
}
