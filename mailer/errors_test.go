package mailer

import (
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{-3, time.Minute}, {0, time.Minute}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute},
		{6, 32 * time.Minute}, {7, time.Hour}, {8, time.Hour}, {1000, time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.attempt); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestRetryPolicyJitter(t *testing.T) {
	p := RetryPolicy{Jitter: 0.2}
	spread := map[time.Duration]bool{}
	for _, key := range []string{"a@x", "b@x", "c@x", "d@x", "e@x", "f@x"} {
		for attempt := 1; attempt <= 10; attempt++ {
			d := p.Delay(attempt, key)
			if d != p.Delay(attempt, key) {
				t.Fatalf("Delay(%d, %q) not deterministic", attempt, key)
			}
			base := Backoff(attempt)
			if lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2); d < lo || d >= hi {
				t.Errorf("Delay(%d, %q) = %v outside [%v, %v)", attempt, key, d, lo, hi)
			}
			if attempt == 1 {
				spread[d] = true
			}
		}
	}
	if len(spread) < 4 {
		t.Errorf("jitter does not spread keys: %v", spread)
	}
	if d := (RetryPolicy{Jitter: 0.2}).Delay(3, ""); d != 4*time.Minute {
		t.Errorf("empty key gets jitter: %v", d)
	}
	if d := (RetryPolicy{Base: time.Second, Max: 10 * time.Second}).Delay(5, "k"); d != 10*time.Second {
		t.Errorf("custom cap: %v", d)
	}
}

func TestRetryPolicyPermanent(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	temp := &Error{Op: "rcpt", Temporary: true, Err: &smtp.SMTPError{Code: 451}}
	perm := &Error{Op: "rcpt", Err: &smtp.SMTPError{Code: 550}}
	p := RetryPolicy{}
	tests := []struct {
		name string
		err  error
		age  time.Duration
		want bool
	}{
		{"temporary young", temp, 3 * 24 * time.Hour, false},
		{"temporary at max age", temp, DefaultMaxAge, true},
		{"permanent young", perm, time.Minute, true},
		{"nil", nil, 10 * DefaultMaxAge, false},
		{"network", errors.New("reset"), 5 * 24 * time.Hour, true},
	}
	for _, tt := range tests {
		if got := p.Permanent(tt.err, first, first.Add(tt.age)); got != tt.want {
			t.Errorf("%s: Permanent = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !(RetryPolicy{MaxAge: time.Hour}).Expired(first, first.Add(time.Hour)) {
		t.Error("custom MaxAge ignored")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "rcpt", Recipient: "bob@x.test", Err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}},
			"smtp rcpt <bob@x.test>: 550 5.1.1 user unknown"},
		{&Error{Op: "mail", Err: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.NoEnhancedCode, Message: "bye"}}, "smtp mail: 421 bye"},
		{&Error{Op: "dial", Err: errors.New("connection refused")}, "smtp dial: connection refused"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
