// Package poller is supportd's IMAP intake (go-imap v2 imapclient).
//
// Model. A Poller owns one IMAP connection to one mailbox. It finds the
// messages above the Handler's checkpoint (last UID fully handled, per
// mailbox and UIDVALIDITY), fetches them in batches, spools each raw message
// to a file, hands the batch to the Handler and then applies the marks the
// Handler returns (IMAP keywords, a move to a folder). It neither parses mail
// nor touches the store. The full behaviour, command by command, is in
// docs/design.md §8 ("IMAP intake").
//
// Invariants.
//   - New mail is found by UID only (UID SEARCH above the checkpoint after
//     every connect and wake-up); \Seen and \Recent are never relied on and
//     bodies are fetched with BODY.PEEK[], so the poller never sets \Seen.
//   - Two UID FETCHes per batch (sizes and flags, then the bodies), never one
//     per message; the next batch is fetched while the Handler works, with at
//     most one command in flight.
//   - A batch is handed over once. When Handle fails, nothing of it counts as
//     handled: its spool files are removed and it is fetched again after a
//     backoff. A message above MaxMessageBytes comes with TooLarge and no
//     Path, so it is routed, never lost.
//   - Marks are applied only after the batch's FETCH completed, and those not
//     applied because the connection dropped are applied after the reconnect
//     (same UIDVALIDITY). A refused command (NO/BAD) is logged, not retried.
//   - A UIDVALIDITY change makes the Handler answer checkpoint 0 (the mailbox
//     is read again; the Handler dedupes), or, for a ValidityStarter (the
//     Sent folder), start afresh where Config.StartAt says. A mailbox never
//     read starts where Config.StartAt says; without one only an empty
//     mailbox starts (ErrStartAtRequired otherwise).
//   - A half-open connection is detected within 2×WatchdogInterval (a NOOP
//     that must be answered; read deadlines while traffic is expected).
//     Reconnects use capped exponential backoff with jitter.
//   - TLS verifies certificates always; "none" only to a loopback address.
//     Passwords and tokens are never logged.
//
// Limits.
//   - One mailbox per Poller; the connection is not shared.
//   - While Handle runs the read timeout is off once the batch fetched ahead
//     arrived; a connection that died meanwhile is noticed at the next command.
//   - Without MOVE and UIDPLUS the fallback EXPUNGE also removes messages a
//     human flagged \Deleted in that mailbox.
//   - A command answered after more than ReadTimeout of silence counts as a
//     dead connection.
//   - Marks not yet applied survive a crash only when the Handler is a
//     MarkTracker (the daemon is: it stores them and the poller applies them
//     at the next session). Spool files of a crashed batch stay behind until
//     the same UID is fetched again.
package poller
