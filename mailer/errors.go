package mailer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Error is the failure of one envelope. It survives wrapping: use
// errors.As, or IsPermanent / IsTemporary.
type Error struct {
	// Op is the step that failed: envelope, size, token, dial, tls,
	// starttls, ehlo, auth, rset, mail, rcpt, data, send.
	Op string
	// Recipient is the refused address when Op is rcpt.
	Recipient string
	// Temporary reports whether a later retry can succeed (see doc.go).
	Temporary bool
	// MaybeDelivered is set when the connection was lost after the final
	// "." and before the reply (RFC 1047): a retry may duplicate the
	// message, which its deterministic Message-ID makes recognisable.
	MaybeDelivered bool
	// Policy is set when the server refused us rather than the message: a
	// 5xx to MAIL FROM, or a 5.7.x (security or policy) refusal of the
	// transaction (Postfix reject_sender_login_mismatch: "553 5.7.1 Sender
	// address rejected: not owned by user"), or a refusal of our EHLO name
	// (HELO). It is a configuration fault (smtp.from, smtp.username,
	// smtp.helo_name): Temporary, so the envelope stays queued.
	Policy bool
	// HELO is set with Policy when the reply says the server refused our
	// EHLO name rather than the message (see heloRefused): the name sent,
	// smtp.helo_name. Postfix judges HELO at RCPT TO under its default
	// smtpd_delay_reject = yes, so a single reply would otherwise fail there
	// as if its recipient were wrong.
	HELO string
	// Err is the cause; an *smtp.SMTPError when the server replied.
	Err error

	bodySent bool // the message body went out on the wire
}

func (e *Error) Error() string {
	op := "smtp " + e.Op
	if e.Recipient != "" {
		op += " <" + e.Recipient + ">"
	}
	msg := e.Err.Error()
	if se, ok := e.Err.(*smtp.SMTPError); ok {
		msg = FormatReply(se)
	}
	if e.HELO != "" && !strings.Contains(msg, "smtp.helo_name") {
		msg += " (the server refuses our EHLO name " + e.HELO + ": check smtp.helo_name)"
	}
	return op + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// FormatReply renders a server reply the way the server said it:
// "550 5.1.1 user unknown".
func FormatReply(se *smtp.SMTPError) string {
	s := fmt.Sprintf("%03d", se.Code)
	ec := se.EnhancedCode
	if ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if se.Message != "" {
		s += " " + se.Message
	}
	return s
}

// IsPermanent reports whether err means "never retry this envelope": an
// *Error classified permanent (a 5xx reply in the mail transaction, an
// invalid envelope, a message over the server's SIZE), or a bare
// *smtp.SMTPError with a 5xx code. nil is not permanent.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return !e.Temporary
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code/100 == 5
	}
	return false
}

// IsPolicy reports whether err is a server policy refusal of our sender
// (see Error.Policy): a configuration fault, not the message's.
func IsPolicy(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Policy
}

// RefusedHELO is the EHLO name the server refused when err is such a refusal
// (Error.HELO), "" otherwise.
func RefusedHELO(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.HELO
	}
	return ""
}

// heloRefused reports whether the text of a 5xx reply says that the server
// refused our HELO/EHLO name, not the message or a recipient: Postfix's
// "Helo command rejected" (smtpd_helo_restrictions), or HELO / EHLO in capitals
// as a word of its own, as Exim, qmail and others word it ("550 Bad HELO",
// "501 Syntactically invalid HELO argument(s)", "HELO/EHLO"). A capitalised
// word that is part of an address (<HELO@customer.test>) does not count.
func heloRefused(text string) bool {
	return strings.Contains(strings.ToLower(text), "helo command rejected") || heloWord.MatchString(text)
}

// heloWord is HELO or EHLO not inside a name or an address: neither letter,
// digit nor @ . + = _ - on either side, except a full stop that ends a
// sentence ("Bad HELO.").
var heloWord = regexp.MustCompile(`(^|[^A-Za-z0-9@.+=_-])(HELO|EHLO)($|[^A-Za-z0-9@.+=_-]|\.($|[^A-Za-z0-9]))`)

// SameRefusal reports whether a and b are the same permanent server reply to
// the same step (code, enhanced code and step; the text may name different
// recipients).
func SameRefusal(a, b error) bool {
	var ea, eb *Error
	var sa, sb *smtp.SMTPError
	if !errors.As(a, &ea) || !errors.As(b, &eb) || !errors.As(a, &sa) || !errors.As(b, &sb) {
		return false
	}
	return ea.Op == eb.Op && sa.Code == sb.Code && sa.Code/100 == 5 && sa.EnhancedCode == sb.EnhancedCode
}

// IsTLSVerification reports whether err comes from a server certificate
// that failed verification: a configuration problem (wrong host name,
// missing smtp.ca_file) or an attack, to be shown to the operator. Such
// errors are temporary for delivery.
func IsTLSVerification(err error) bool {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

// Retry policy defaults: RFC 5321 §4.5.4.1 asks for a retry interval of at
// least 30 minutes after the first failures and a give-up time of at least
// 4-5 days; replies are time-sensitive, so the first retries come sooner.
const (
	DefaultBackoffBase = time.Minute
	DefaultBackoffMax  = time.Hour
	DefaultMaxAge      = 4 * 24 * time.Hour
)

// RetryPolicy decides when a temporarily failed envelope is tried again
// and when it is given up. Zero fields take the defaults.
type RetryPolicy struct {
	Base   time.Duration // first delay (1m)
	Max    time.Duration // cap (1h)
	MaxAge time.Duration // a temporary failure older than this is final (4 days)
	// Jitter spreads retries: each delay is scaled by a factor in
	// [1-Jitter, 1+Jitter) chosen deterministically from the key passed
	// to Delay (e.g. the Message-ID). 0 means no jitter; at most 0.5.
	Jitter float64
}

// Backoff is the default delay before retry number attempt (1-based,
// attempts < 1 count as 1): 1m, 2m, 4m, … capped at 1h, without jitter.
func Backoff(attempt int) time.Duration {
	return RetryPolicy{}.Delay(attempt, "")
}

// Delay returns the delay before retry number attempt (1-based).
func (p RetryPolicy) Delay(attempt int, key string) time.Duration {
	base, max := p.Base, p.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if max <= 0 {
		max = DefaultBackoffMax
	}
	attempt = max1(attempt)
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	if j := min(p.Jitter, 0.5); j > 0 && key != "" {
		// FNV-1a of key and attempt: deterministic, well spread.
		h := uint64(14695981039346656037)
		for i := 0; i < len(key); i++ {
			h = (h ^ uint64(key[i])) * 1099511628211
		}
		h = (h ^ uint64(attempt)) * 1099511628211
		f := float64(h>>11) / float64(1<<53) // [0,1)
		d = time.Duration(float64(d) * (1 - j + 2*j*f))
	}
	return d
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
