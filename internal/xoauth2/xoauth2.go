// Package xoauth2 is the XOAUTH2 SASL client of Gmail and Microsoft 365,
// shared by the IMAP poller and the SMTP mailer (go-sasl has only the
// standard OAUTHBEARER, RFC 7628).
//
// Initial response: "user=" user ^A "auth=Bearer " token ^A ^A. On failure the
// server sends a challenge holding a JSON error; the client answers with an
// empty response and the server then ends the exchange with its error reply
// (IMAP NO, SMTP 535/454). Returning an error from Next instead would leave the
// command hanging.
package xoauth2

import "github.com/emersion/go-sasl"

// Mechanism is the SASL mechanism name.
const Mechanism = "XOAUTH2"

// Client is a sasl.Client for XOAUTH2.
type Client struct {
	username, token string
	serverErr       string
}

var _ sasl.Client = (*Client)(nil)

// NewClient returns a client that logs in as username with an OAuth2 access token.
func NewClient(username, token string) *Client {
	return &Client{username: username, token: token}
}

func (c *Client) Start() (string, []byte, error) {
	return Mechanism, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *Client) Next(challenge []byte) ([]byte, error) {
	if len(challenge) > 512 {
		challenge = challenge[:512]
	}
	c.serverErr = string(challenge)
	return []byte{}, nil
}

// ServerError is the server's error challenge (at most 512 bytes; it holds no
// secret), "" when there was none.
func (c *Client) ServerError() string { return c.serverErr }
