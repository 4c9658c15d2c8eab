package poller

import "github.com/emersion/go-sasl"

const xoauth2Mech = "XOAUTH2"

// xoauth2Client implements the XOAUTH2 SASL mechanism used by Gmail and
// Microsoft 365 (go-sasl has OAUTHBEARER, RFC 7628, but not XOAUTH2):
//
//	"user=" user "\x01auth=Bearer " token "\x01\x01"
//
// On failure the server sends a base64 JSON error as a challenge; the client
// must answer with an empty response, then the server sends NO. Returning an
// error from Next instead would leave the AUTHENTICATE command hanging.
type xoauth2Client struct {
	username, token string
	serverErr       string // the JSON error challenge, for the log (holds no secret)
}

var _ sasl.Client = (*xoauth2Client)(nil)

func (c *xoauth2Client) Start() (string, []byte, error) {
	return xoauth2Mech, []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if len(challenge) > 512 {
		challenge = challenge[:512]
	}
	c.serverErr = string(challenge)
	return []byte{}, nil
}
