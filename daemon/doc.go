// Package daemon is the pipeline of `supportd run` (docs/design.md §1): it connects the IMAP
// poller, the pure decision core and the SMTP mailer through the store.
//
// It is a package of its own so that tests, `supportd demo`, the fault and
// torture suites and the benchmark tool run the very same code as the daemon
// (assembled by internal/config's Build). It imports the edges (poller, mailer,
// store) and the core; nothing imports it but internal/config, cmd and tests.
//
// Invariants:
//   - Parsing happens outside the IMAP loop and outside the store transaction
//     (Handle parses the spooled batch first).
//   - One store transaction per fetched batch holds every decision, ledger
//     entry, ticket change, outbox entry, reply counter and the checkpoint.
//     Nothing is sent and nothing is marked on the server before it commits.
//   - A message is decided once: the ledger (mailbox, UIDVALIDITY, UID) stops a
//     second decision after a crash, and the content hash / Message-ID index
//     stops one after a UIDVALIDITY change or a second delivery.
//   - A reply is enqueued once (the outbox is keyed by its deterministic
//     Message-ID) and marked sent after the SMTP server's 250: logged at
//     once (store.AcceptLog), committed when the send round ends. A crash
//     resends at most the one reply per SMTP connection whose 250 was not
//     logged yet, with the same Message-ID (RFC 1047).
//   - A message that cannot be processed never blocks the queue: a parser or
//     decision panic quarantines it at once, any other failure after
//     Config.MaxAttempts attempts (tagged, moved to the quarantine folder,
//     staff told).
//   - Every message reaches staff: IMAP keywords always; folder and staff-queue
//     copy per routing rules.
//
// Engine.Assess is also what `supportd explain` runs, read-only, so the JSON an
// operator inspects is the decision the daemon would take.
package daemon
