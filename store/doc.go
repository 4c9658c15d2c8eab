// Package store is supportd's persistence: one bbolt file (default
// supportd.db, mode 0600) holding customers, tickets, the message ledger, IMAP
// checkpoints, the SMTP outbox and per-sender auto-reply counters, plus a
// directory of raw .eml audit copies beside it. The buckets, their keys and the
// invariants are listed in docs/design.md §9.
//
// Model. DB.View and DB.Update hand out a *Tx; every value a Tx returns is
// copied out of the mmap. The daemon commits a whole fetched batch (tickets,
// ledger, outbox, checkpoint) in one fsync'd Update (about 0.5 ms). Lookups that
// find nothing return nil; operations on a missing record wrap ErrNotFound,
// invalid input ErrInvalid, a contact or domain owned by another customer
// ErrConflict.
//
// Invariants. Every index entry points to an existing record; a contact or
// domain belongs to at most one customer; outbox_due holds exactly the pending
// entries; meta/schema_version names the layout, migrated inside the
// transaction that opens a read-write store (a newer file is refused with
// ErrSchemaTooNew, a read-only Open of an older one fails with
// ErrNeedsMigration).
//
// Locking. Open takes bbolt's file lock with Options.Timeout (default 2 s) and
// fails with ErrLocked while `supportd run` holds it; ReadOnly opens share the
// lock with each other, not with the daemon.
//
// Customer import (ImportCustomers) is all or nothing and runs in bounded
// memory: rows are validated and compared in batches, sorted into run files in
// a work directory beside the store, merged to find duplicates and conflicts,
// and only then written — in place when at most 10,000 rows change, otherwise
// as a new generation of the customer buckets swapped in by one transaction.
// Any error writes nothing (*CSVError lists up to 20 problems with line
// numbers); re-importing a file writes nothing; the import never deletes. A
// crash leaves the old customers plus leftovers the next Open removes. The
// design's history and measurements are in BENCHMARKS.md.
//
// Export escapes cells a spreadsheet would run as formulas with one leading '
// and import removes exactly one, so export then import is the identity.
//
// Beside the file: SaveRaw's audit copies "<db path>.raw/<hex sha256(key)>.eml"
// (0600, fsync, rename, at most Options.MaxRawBytes; PruneRaw deletes by age),
// and AcceptLog's "<db path>.sent" (SMTP acceptances ahead of their commit).
//
// Backup and restore: Backup writes a consistent bbolt snapshot; BackupFile the
// checked archive (store.db, raw/, store.sent: the acceptance log read last;
// SHA-256 manifest), consistent with the daemon's batches (HoldRawCommit) and
// sends (restore marks sent what the log holds). RestoreFile checks everything
// before it puts anything in place and never overwrites a store with data.
// A writable store maps twice its size (at least 1 GiB of address space), so
// a long read transaction, such as a backup to a slow client, does not hold up
// commits (bbolt's remap waits for readers) until the store has doubled.
//
// Limits: ticket ids CS-000001 … CS-999999; ledger entries, sent outbox
// metadata and tickets are kept forever (outbox data is dropped when sent,
// reply counters by PruneReplies); Message-IDs compare exactly after trimming
// spaces and one pair of angle brackets; id ≤ 128 bytes, other fields ≤ 512
// bytes, ≤ 1000 contacts or domains per customer, CSV record ≤ 128 KiB.
package store
