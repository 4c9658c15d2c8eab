package poller

import (
	"bufio"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// maxDeliveredToHeader bounds the header block DeliveredTo reads.
const maxDeliveredToHeader = 256 << 10

// DeliveredTo returns the address of the topmost Delivered-To field of a
// message's header: the one the receiving server (Dovecot LDA/LMTP, Postfix
// local) added last. Fields below it can come from the sender and must not
// be trusted, so only the topmost counts. It returns "" when there is none
// or it is not an address. The header read is bounded (256 KiB).
//
// With Postfix delivering through LMTP, Dovecot adds Delivered-To only when
// the transaction has a single recipient: set lmtp_destination_recipient_limit
// = 1 (docs/operations.md). The staff loop uses it to find a plus-address
// (support+CS-000123@vendor.test) a staff member Bcc'd.
func DeliveredTo(r io.Reader) (string, error) {
	h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(r, maxDeliveredToHeader)))
	if err != nil && h.Len() == 0 {
		return "", err
	}
	v := strings.TrimSpace(h.Get("Delivered-To")) // Get: the first (topmost) field
	if v == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(v)
	if err != nil {
		if a, err = mail.ParseAddress("<" + strings.Trim(v, "<>") + ">"); err != nil {
			return "", nil
		}
	}
	// The domain is case-insensitive; the local part (a +tag with a ticket id)
	// is kept as delivered.
	i := strings.LastIndexByte(a.Address, '@')
	return a.Address[:i] + "@" + strings.ToLower(a.Address[i+1:]), nil
}
