// Package faults holds supportd's network and SMTP fault tests (issue 4, item 2).
// It has no production code: everything is in its _test.go files.
//
// The daemon runs in-process against a real Dovecot (IMAP) and a real Mailpit (SMTP
// sink) or an in-process go-smtp server (internal/memserver) whose answers the test
// chooses. Faults are injected with toxiproxy (github.com/Shopify/toxiproxy/v2),
// run in-process on loopback between the daemon and the servers:
//
//   - a connection reset (RST) in the middle of a large UID FETCH;
//   - a half-open connection during IDLE (a blackhole: nothing passes, no FIN);
//   - latency and bandwidth limits on both the IMAP and the SMTP path;
//   - SMTP 421 / 451 (retried with backoff, delivered after recovery) and 550
//     (not retried; in the log, in supportd_replies_failed_total{class="permanent"}
//     and in a notice to the staff queue).
//
// Invariant checked by every test: each message gets exactly one reply (counted at
// the SMTP server by subject and Message-ID) and is tagged $SupportdProcessed in
// Dovecot; nothing is lost, nothing is sent twice.
//
// Limits: timings are scaled down (watchdog 1s, retry backoff 100-300ms) so each
// test stays well under a minute; the default configuration's half-open detection
// bound is computed from the poller's defaults instead of waited for.
package faults
