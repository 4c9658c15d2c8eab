package mailer

import (
	"github.com/emersion/go-sasl"
)

// xoauth2Client implements Google's and Microsoft's XOAUTH2 SASL mechanism
// (go-sasl has only the standard OAUTHBEARER, RFC 7628).
//
// Initial response: "user=" user ^A "auth=Bearer " token ^A ^A.
// On failure the server sends a 334 challenge holding a JSON error; the
// client answers with an empty response and the server then sends the
// final error reply (535/454).
type xoauth2Client struct {
	username, token string
}

// NewXOAuth2Client returns a sasl.Client for XOAUTH2.
func NewXOAuth2Client(username, token string) sasl.Client {
	return &xoauth2Client{username: username, token: token}
}

func (c *xoauth2Client) Start() (string, []byte, error) {
	ir := "user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"
	return AuthXOAUTH2, []byte(ir), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	// Only an error description comes back; acknowledge it so the server
	// finishes the exchange with its error reply.
	return []byte{}, nil
}
