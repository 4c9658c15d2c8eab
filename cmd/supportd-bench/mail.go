package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// customersCSV writes n generated customers: customer i has the contact
// user<i>@cust<i>.test; every 7th one's support lapsed in 2020.
func customersCSV(w io.Writer, n int) error {
	if _, err := io.WriteString(w, "id,company,contacts,domains,license,asup_expires,trial_expires,free5,extended_support,ha_module\n"); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		exp := "2099-12-31"
		if i%7 == 0 {
			exp = "2020-01-31"
		}
		if _, err := fmt.Fprintf(w, "C%07d,Company %d Pty Ltd,user%d@cust%d.test,cust%d.test,enterprise,%s,,false,false,false\n", i, i, i, i, i, exp); err != nil {
			return err
		}
	}
	return nil
}

// supportMessage is message i of a run: a realistic support email from a
// distinct sender of customer i of customersCSV (its listed contact, or for
// every 10th a colleague matched by the customer's domain), so every one gets
// exactly one reply (an acknowledgement, or a lapsed notice for every 7th)
// and no reply cap applies: not the per-sender one, nor the hourly caps on
// senders that are not customers (limits.unknown_replies_per_*), which
// would turn most of a drain into suppressed mail.
func supportMessage(run string, i int) (raw []byte, messageID string) {
	from := fmt.Sprintf("User %d <user%d@cust%d.test>", i, i, i)
	if i%10 == 0 {
		from = fmt.Sprintf("Sam %d <sam@cust%d.test>", i, i)
	}
	messageID = fmt.Sprintf("<%s-%d@bench.test>", run, i)
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: support@vendor.test\r\nSubject: Error adding a password list (%s #%d)\r\n"+
		"Date: Wed, 25 Nov 2026 10:00:00 +1030\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n", from, run, i, messageID)
	b.WriteString("Hello support,\r\n\r\nWhen I add a password list in the Finance folder the page fails with an error\r\n" +
		"for every user since yesterday's upgrade. It worked last week.\r\n\r\n" +
		"Build Number: 9653\r\nServer OS: Windows Server 2019\r\nBrowser: Chrome 131\r\n\r\n" +
		"Steps to reproduce:\r\n1. Open the Finance folder\r\n2. Click Add Password List\r\n3. Save\r\n\r\n" +
		"Regards,\r\nUser\r\n")
	return []byte(b.String()), messageID
}

// bigMessage is a support email with one base64 attachment of size decoded
// bytes of random data (the 25 MB memory scenario).
func bigMessage(run string, i, size int) (raw []byte, messageID string) {
	head, id := supportMessage(run, i)
	// Turn the plain message into multipart/mixed: header, text part, attachment.
	parts := bytes.SplitN(head, []byte("\r\n\r\n"), 2)
	hdr := bytes.Replace(parts[0], []byte("Content-Type: text/plain; charset=utf-8"),
		[]byte("Content-Type: multipart/mixed; boundary=\"bench-b\""), 1)
	var b bytes.Buffer
	b.Grow(size*4/3 + size/38 + 4096)
	b.Write(hdr)
	b.WriteString("\r\n\r\n--bench-b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.Write(parts[1])
	b.WriteString("--bench-b\r\nContent-Type: application/zip; name=\"logs.zip\"\r\nContent-Disposition: attachment; filename=\"logs.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	rng := rand.New(rand.NewPCG(uint64(i), uint64(size)))
	raw57 := make([]byte, 57)
	enc := make([]byte, 76)
	for left := size; left > 0; left -= 57 {
		n := min(left, 57)
		for j := 0; j < n; j++ {
			raw57[j] = byte(rng.Uint32())
		}
		base64.StdEncoding.Encode(enc, raw57[:n])
		b.Write(enc[:base64.StdEncoding.EncodedLen(n)])
		b.WriteString("\r\n")
	}
	b.WriteString("--bench-b--\r\n")
	return b.Bytes(), id
}
