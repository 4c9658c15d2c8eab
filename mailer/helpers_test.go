package mailer

import (
	"io"
	"strings"
	"time"
)

// Helpers only the tests of this package use (kept out of the binary).

// ComposeStaffCopy is StaffCopy{…}.Compose(original) with a derived
// Message-ID and no Date.
func ComposeStaffCopy(original io.Reader, subject string, headers map[string]string, from, to string, preface string) ([]byte, error) {
	return StaffCopy{From: from, To: to, Subject: subject, Headers: headers, Preface: preface}.Compose(original)
}

// StaffSubject prefixes the original subject with the routing tags, e.g.
// StaffSubject("Login fails", "CS-004211", "P1", "ASUP") =
// "[CS-004211][P1][ASUP] Login fails". Tags already leading the subject are
// not repeated; empty tags are skipped.
func StaffSubject(original string, tags ...string) string {
	var prefix strings.Builder
	for _, t := range tags {
		if t = cleanText(t); t != "" {
			prefix.WriteString("[" + t + "]")
		}
	}
	p := prefix.String()
	s := strings.TrimSpace(cleanText(original))
	s = strings.TrimSpace(strings.TrimPrefix(s, p))
	if s == "" {
		return p
	}
	if p == "" {
		return s
	}
	return p + " " + s
}

// IsTemporary reports whether err is worth retrying later: every non-nil
// error that is not permanent (4xx replies, network errors, timeouts, a
// cancelled context, TLS and authentication failures). An error is always
// exactly one of the two, so nothing is left neither retried nor
// quarantined.
func IsTemporary(err error) bool {
	return err != nil && !IsPermanent(err)
}

// Expired reports whether an envelope first tried at first has been
// failing for MaxAge or longer at now.
func (p RetryPolicy) Expired(first, now time.Time) bool {
	age := p.MaxAge
	if age <= 0 {
		age = DefaultMaxAge
	}
	return now.Sub(first) >= age
}

// Permanent reports whether err, for an envelope first tried at first, is
// final at now: permanent by itself, or temporary for longer than MaxAge.
func (p RetryPolicy) Permanent(err error, first, now time.Time) bool {
	return IsPermanent(err) || (err != nil && p.Expired(first, now))
}
