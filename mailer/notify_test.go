package mailer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"supportd/internal/memserver"
	"supportd/mailer"
)

// SendBatchNotify reports every envelope as soon as the server answered it, so the
// daemon can record each acceptance at once (a short RFC 1047 window).
func TestSendBatchNotifyReportsEachEnvelope(t *testing.T) {
	srv, err := memserver.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.Fail = func(from string, to []string) error {
		if to[0] == "refused@acme.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "user unknown"}
		}
		return nil
	}
	m, err := mailer.New(mailer.Config{Address: srv.Addr(), TLS: "none", MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var es []mailer.Envelope
	for i := range 10 {
		to := fmt.Sprintf("c%d@acme.test", i)
		if i == 4 {
			to = "refused@acme.test"
		}
		es = append(es, mailer.Envelope{From: "support@vendor.test", To: []string{to},
			Data: []byte(fmt.Sprintf("Subject: %d\r\nMessage-ID: <%d@v.test>\r\n\r\nbody\r\n", i, i))})
	}
	var mu sync.Mutex
	got := map[int]error{}
	accepted := 0
	errs := m.SendBatchNotify(context.Background(), es, func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[i]; dup {
			t.Errorf("envelope %d reported twice", i)
		}
		got[i] = err
		if err == nil {
			accepted++
			// When the server answered 250 for i, it holds the message already.
			if n := len(srv.Messages()); n < accepted {
				t.Errorf("reported %d accepted but the server holds %d", accepted, n)
			}
		}
	})
	if len(got) != len(es) {
		t.Fatalf("%d envelopes reported, want %d", len(got), len(es))
	}
	for i, err := range errs {
		if (err == nil) != (got[i] == nil) {
			t.Errorf("envelope %d: reported %v, returned %v", i, got[i], err)
		}
	}
	if !mailer.IsPermanent(got[4]) {
		t.Errorf("envelope 4: want a permanent 550, got %v", got[4])
	}
	if accepted != 9 || len(srv.Messages()) != 9 {
		t.Errorf("accepted %d, server holds %d; want 9 and 9", accepted, len(srv.Messages()))
	}
}
