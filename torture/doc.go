// Package torture proves supportd's delivery guarantees against the real binary,
// a real Dovecot and a real Mailpit (internal/testenv): every message gets
// exactly one reply or one recorded suppression, nothing is lost across
// SIGTERM, SIGKILL and UIDVALIDITY changes, and the only duplicates are copies
// with the same deterministic Message-ID from the RFC 1047 window (SMTP said
// 250, the daemon died before committing "sent"), counted separately.
//
// The package has tests only. TestMain builds cmd/supportd once (with -race when
// the tests run with -race; a race the daemon reports fails the test). Each test
// writes a YAML config, imports customers with `supportd customers import`,
// delivers a backlog over IMAP and runs `supportd run` as a child process.
//
// Kills land at random delays (20–400 ms after start) and at protocol events: a
// line-level TCP proxy sits between the daemon and each server and SIGKILLs the
// daemon when it sees the start of a FETCH body, the UID STORE that follows a
// decision commit, the "." ending SMTP DATA (not forwarded: the message is never
// accepted) or the 250 answering it (forwarded: the RFC 1047 window). The SMTP
// proxy can also slow DATA down so a backlog stays in flight for seconds.
//
// Tests:
//   - TestRestartMidBacklog: the acceptance test (SIGTERM, restart,
//     SIGKILL, restart, finish; 60 messages).
//   - TestCrashTorture: CI mode ≥ 20 kills over ≥ 200 messages; TORTURE=long
//     (scripts/torture, `make torture`) ≥ 50 kills over ≥ 1,000. TORTURE_SEED
//     repeats a run's kill delays. Prints one summary line starting "TORTURE".
//   - TestUIDValidityChange: the mailbox rebuilt with a new UIDVALIDITY gives
//     no new reply and no new ticket; the ledger marks every message duplicate.
//   - TestSLAKillBetweenWarningAndBreach, TestSLAKillTorture (sla_test.go):
//     SLA warning and breach exactly once on a seconds-long SLA, across a
//     SIGKILL between them, downtime across the deadline and random kills.
//
// The disk-full proof (a real ENOSPC on a tiny tmpfs) is daemon/storefail_test.go.
//
// Limits: Unix signals (SIGTERM, SIGKILL); Dovecot and Mailpit must be installed
// (scripts/testenv install). Random delays cover the windows statistically; the
// proxy points make each of them certain at least once per run (asserted). A
// kill point sees the daemon's traffic, not its internals: "after commit" is
// "at the UID STORE that follows a commit".
package torture
