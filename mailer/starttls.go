package mailer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// startTLS runs the plaintext part of a STARTTLS session itself — greeting,
// EHLO with HeloName, STARTTLS — and returns the connection the SMTP client
// continues on. go-smtp's NewClientStartTLS would say "EHLO localhost" there
// (its name cannot be set before STARTTLS), which a server that judges HELO
// at once (Postfix smtpd_delay_reject = no with reject_non_fqdn_helo_hostname)
// refuses with 504, whatever smtp.helo_name says. The returned connection
// replays a 220 greeting, so the client greets and says EHLO again over TLS
// (RFC 3207 §4.2); the TLS handshake happens at that first write.
func (m *Mailer) startTLS(raw net.Conn) (net.Conn, error) {
	tp := textproto.NewConn(raw) // not closed: that would close raw
	step := func(expect int, format string, args ...any) (string, error) {
		_ = raw.SetDeadline(time.Now().Add(m.cfg.CommandTimeout))
		if format != "" {
			id, err := tp.Cmd(format, args...)
			if err != nil {
				return "", err
			}
			tp.StartResponse(id)
			defer tp.EndResponse(id)
		}
		_, msg, err := tp.ReadResponse(expect)
		return msg, smtpError(err)
	}
	if _, err := step(220, ""); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	ext, err := step(250, "EHLO %s", m.cfg.HeloName)
	if err != nil {
		return nil, fmt.Errorf("ehlo %s (smtp.helo_name): %w", m.cfg.HeloName, err)
	}
	if !hasExtension(ext, "STARTTLS") {
		return nil, errors.New("smtp: server doesn't support STARTTLS")
	}
	if _, err := step(220, "STARTTLS"); err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return &greetedConn{Conn: tls.Client(raw, m.tlsConfig), greeting: strings.NewReader("220 TLS started\r\n")}, nil
}

// hasExtension reports whether an EHLO reply (textproto's lines without
// codes, the first the server's name) offers ext.
func hasExtension(reply, ext string) bool {
	lines := strings.Split(reply, "\n")
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// smtpError turns a reply error into the *smtp.SMTPError go-smtp returns
// for the same reply (enhanced status code split off), so the permanent /
// policy classification sees no difference.
func smtpError(err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	se := &smtp.SMTPError{Code: te.Code, Message: te.Msg}
	if code, rest, ok := strings.Cut(te.Msg, " "); ok {
		var ec smtp.EnhancedCode
		if n, _ := fmt.Sscanf(code, "%d.%d.%d", &ec[0], &ec[1], &ec[2]); n == 3 {
			se.EnhancedCode, se.Message = ec, rest
		}
	}
	return se
}

// greetedConn is a connection that first reads as a 220 greeting: the SMTP
// client expects one before its EHLO, and after STARTTLS none comes.
type greetedConn struct {
	net.Conn
	greeting *strings.Reader
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if c.greeting.Len() > 0 {
		return c.greeting.Read(p)
	}
	return c.Conn.Read(p)
}
