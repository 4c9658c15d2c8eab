// Package poller is supportd's IMAP intake (go-imap v2 imapclient).
//
// A Poller owns one IMAP connection to one mailbox. It finds the messages
// above the handler's checkpoint, fetches them in batches, spools each raw
// message to a file and hands the batch to a Handler; it then applies what
// the handler asks (IMAP keywords, a move to a folder). It does not parse
// mail and does not touch the store: the Handler does, and owns the
// checkpoint (the last UID fully handled per mailbox and UIDVALIDITY).
//
// # Invariants
//
//   - New mail is found by UID only: UID SEARCH UID <checkpoint+1>:* after
//     every (re)connect and every wake-up, filtered to UIDs above the
//     checkpoint ("n:*" always matches the highest UID, RFC 3501 §6.4.8).
//     \Seen and \Recent are never relied on, so mail read by a human in a
//     mail client is still processed, and nothing that arrived while the
//     connection was down is missed.
//   - Bodies are fetched with BODY.PEEK[] only: the poller never sets \Seen.
//   - One UID FETCH per batch (Config.BatchSize UIDs) for RFC822.SIZE,
//     INTERNALDATE and FLAGS, then one UID FETCH BODY.PEEK[] for the messages
//     of the batch not above MaxMessageBytes: never one FETCH per message.
//     Each literal is streamed to a spool file and read to its end before the
//     next item (go-imap #667); every FetchCommand is closed.
//   - The next batch is fetched while the handler works on the current one
//     (the connection is otherwise idle then): at most one FETCH in flight,
//     never alongside another command; a batch's marks are applied after
//     that FETCH completed. When Handle fails or ctx ends, the batch fetched
//     ahead is dropped (spool files removed) and fetched again later.
//   - A message above MaxMessageBytes (announced size, or the bytes actually
//     sent) is not kept: it is delivered with TooLarge set and no Path, so the
//     handler can route it to staff rather than lose it.
//   - A batch is handed over once; when Handle fails nothing of the batch
//     counts as handled: its spool files are removed and it is fetched again
//     after a backoff (poison messages are the handler's to quarantine).
//   - Keywords: one UID STORE +FLAGS.SILENT per distinct keyword set, only
//     when PERMANENTFLAGS contains \* (or lists the keyword). Moves: MOVE
//     when offered, else COPY, then (only after the copy succeeded) STORE
//     \Deleted and UID EXPUNGE (UIDPLUS) or EXPUNGE; the folder is created
//     when missing. Marks not applied because the connection dropped are
//     applied after the reconnect (same UIDVALIDITY); a command the server
//     refuses (NO/BAD) is logged and not retried.
//   - A mailbox the handler (a Starter) has never read starts where
//     Config.StartAt says (now: UIDNEXT-1; all: 0; a date: below the first
//     UID SEARCH SINCE match); without a choice only an empty mailbox starts,
//     otherwise Run returns ErrStartAtRequired instead of retrying.
//   - UIDVALIDITY is read at every SELECT and passed to Handler.Checkpoint;
//     when it changed the handler answers 0 and the whole mailbox is fetched
//     again (the handler dedupes by Message-ID).
//   - A ValidityStarter handler instead starts afresh where Config.StartAt
//     says after a UIDVALIDITY change (the Sent folder: nothing read again).
//   - Config.SpecialUse finds the mailbox by its RFC 6154 attribute (\Sent)
//     at every connect; Config.ReadOnly selects it with EXAMINE and drops
//     every mark: nothing is stored, moved or created.
//   - Connection health: imapclient has no read timeout, so the net.Conn is
//     wrapped to turn "no deadline" into now+ReadTimeout while traffic is
//     expected; IDLE is interrupted every WatchdogInterval for a NOOP that must
//     be answered within WatchdogInterval (polling mode sends the same NOOP).
//     A half-open connection is thus detected within 2×WatchdogInterval (40 s
//     by default). IDLE is restarted at least every IdleRestart (9 min).
//   - Reconnect after any connection error with capped exponential backoff
//     and jitter (BackoffMin .. BackoffMax); the backoff resets after a
//     successful catch-up.
//   - TLS is implicit or STARTTLS with certificate verification always on;
//     "none" only to a loopback address. XOAUTH2 takes a fresh token from the
//     TokenSource before every connect; a token that cannot be refreshed or
//     expires within 10 minutes is logged and shown in Stats. Passwords and
//     tokens are never logged.
//
// # Limits
//
//   - One mailbox per Poller; the Conn is not shared with other goroutines.
//   - While Handle runs, the read timeout is off once the batch fetched ahead
//     has arrived (no traffic is expected); a connection that died meanwhile
//     is noticed at the next command.
//   - Without MOVE and UIDPLUS the fallback EXPUNGE also removes other
//     messages a human flagged \Deleted in that mailbox.
//   - A server that takes longer than ReadTimeout to answer a command
//     without sending anything (a huge SEARCH) is treated as dead.
//   - Marks not yet applied when the connection drops are kept in memory
//     only: a process exit at that moment loses them (the messages stay
//     handled, without their keywords). On shutdown (ctx cancelled) the
//     poller finishes the commands in flight, so this needs a crash.
//   - Spool files of a batch handed to the handler are the handler's to
//     remove; a crash may leave files behind (overwritten on the next fetch
//     of the same UID).
package poller
