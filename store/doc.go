// Package store is supportd's persistence: one bbolt file (default
// supportd.db, mode 0600) holding customers, tickets, the message ledger, IMAP
// checkpoints, the SMTP outbox and per-sender auto-reply counters, plus a
// directory of raw .eml audit copies beside it.
//
// # Opening
//
// Open takes the file lock with a timeout (Options.Timeout, default 2 s): while
// `supportd run` holds the store, any other Open fails fast with an error
// wrapping ErrLocked ("store supportd.db is locked by another process (is
// supportd run active?)") instead of hanging. bbolt's lock is flock(2) per open
// file description, so even a second Open inside one process waits. ReadOnly
// opens take a shared lock: several readers (explain, list, show) may coexist,
// but not beside the daemon's exclusive lock. The freelist uses
// bolt.FreelistMapType (fast on large files). Every commit is fsync'd unless
// Options.NoSync (tests and benchmarks only).
//
// # Transactions and values
//
// DB.View and DB.Update hand out a *Tx; every method of Tx copies what it
// returns out of the mmap, so values stay valid after the transaction. Keep
// read transactions short: a long one delays writers that must grow the file.
// One fsync'd commit costs about 0.5 ms, so the daemon should handle a whole
// FETCH batch (ticket, ledger, outbox, checkpoint) in one Update. Lookups that
// find nothing return nil and no error; operations on a missing record return
// an error wrapping ErrNotFound. Invalid input wraps ErrInvalid, a contact or
// domain owned by another customer ErrConflict.
//
// # Schema (version 2)
//
// All keys are bytes; "BE" is big-endian. JSON field names are the stable
// on-disk format (snake_case, zero values omitted).
//
//	meta                  "schema_version" → uint64 BE (2)
//	customers             customer id → JSON {id, company, contacts, domains,
//	                      license, asup_expires, trial_expires (YYYY-MM-DD or
//	                      absent), free5, extended_support, ha_module}
//	customers_by_contact  lower-cased address → customer id
//	customers_by_domain   lower-cased domain → customer id
//	tickets               ticket id ("CS-000042") → JSON Ticket; the bucket's
//	                      sequence numbers new ids (NextTicketID)
//	ticket_by_msgid       Message-ID (no angle brackets) → ticket id; incoming
//	                      messages and our own replies, first ticket wins
//	ledger                mailbox NUL uidvalidity(4 BE) uid(4 BE) → JSON
//	                      LedgerEntry
//	ledger_by_msgkey      "<message-id>" or "sha256:<hex>" → ledger key, first
//	                      sighting wins (finds a message again after a
//	                      UIDVALIDITY change)
//	ledger_unmarked       ledger key → empty: done entries whose IMAP keywords
//	                      or move are not applied yet (Unmarked)
//	checkpoints           mailbox → uidvalidity(4 BE) last uid(4 BE)
//	outbox                id (uint64 BE, bucket sequence) → JSON OutboxEntry
//	                      without Data
//	outbox_data           id → the raw RFC 5322 message; deleted when sent
//	outbox_by_msgid       Message-ID → id (Enqueue is idempotent on it)
//	outbox_due            next attempt (Unix ns, 8 BE) id (8 BE) → empty, for
//	                      pending entries only (Due walks it in order)
//	replies               lower-cased sender → sorted Unix seconds (8 BE each)
//	                      of automatic replies, pruned to 7 days on write
//
// Invariants: every index entry points to an existing record; a contact or
// domain belongs to at most one customer (PutCustomer and ImportCustomers
// refuse a second owner); outbox_due holds exactly the pending entries.
//
// # Migrations
//
// meta/schema_version records the layout. Open on a read-write store runs the
// migrations from the file's version up to SchemaVersion inside the single
// transaction that opens it (a failing migration leaves the file untouched);
// a file newer than SchemaVersion is refused with ErrSchemaTooNew, and a
// read-only Open of an older file fails with ErrNeedsMigration. An empty file
// is initialised at the current version. Schema v1 (the first prototype) had
// only meta, customers, customers_by_contact, tickets, ledger, checkpoints
// and an outbox with the message data inline (base64 in the JSON); migration
// 1→2 creates the other buckets, rebuilds every index from the primary
// records (a key claimed twice goes to the first customer in id order) and
// moves outbox data to outbox_data. To add version 3: bump SchemaVersion,
// append a migration{from: 2}, and test it on a hand-built v2 file as
// TestMigrateFromV1 does for v1.
//
// # Customer CSV import: all or nothing
//
// ImportCustomers streams the file once, inside ONE read-write transaction:
// every row is validated (ReadCustomersCSV: header, field count, dates,
// licence, booleans, addresses, domains, lengths, duplicate ids), changed
// records and every row's contacts and domains are kept in memory, then
// conflicts are checked (a contact or domain listed by two rows, or owned by
// an existing customer that the file does not list) and, only if there is no
// error at all, everything is written and committed at once. Any error rolls
// the transaction back: nothing is imported, and the error (*CSVError) lists
// up to 20 problems with their line numbers. Re-importing the same file
// writes no record (every row Unchanged). Customers missing from the file are
// kept (the import never deletes).
//
// Why one transaction and not batches of 10,000: batches would leave a
// half-imported customer base after a crash or a full disk, exactly what "all
// or nothing" forbids. One transaction costs memory instead. bbolt splits
// nodes only at commit, so inserting a million keys in random order into one
// transaction is quadratic; the import therefore sorts records and index
// entries by key before writing, and fills pages to 90% (append order).
// Measured here (2 shared cores, go test -bench ImportCSV, 1,000,000 new
// customers with 2 contacts and 1 domain each): about 15 s (65,000 rows/s),
// a 406 MB file, a Go heap of about 1.4 GB and a peak RSS of about 1.8 GB.
// Lookups on that store (BenchmarkCustomerByContact/ByDomain, each in its own
// read transaction): p50 about 4 µs, p99 about 12 µs.
//
// The import needs the store's write lock: run it with the daemon stopped (or
// from inside the daemon).
//
// # CSV export and formula injection
//
// ExportCustomers writes the CSV sorted by id from one read transaction. A cell
// that a spreadsheet would run as a formula (first character = + - @ TAB or
// CR, possibly after leading single quotes) gets one more leading ', and the
// reader removes exactly one leading ' from a cell of that shape: export then
// import is the identity, and exports of the same data are byte-identical.
//
// # Raw mail audit copies
//
// SaveRaw(key, r) writes the message to "<db path>.raw/<hex sha256(key)>.eml"
// (directory 0700, file 0600, temporary file + fsync + rename), at most
// Options.MaxRawBytes (default 64 MiB). The key is any string, normally the
// ledger key or MessageKey. PruneRaw(olderThan) deletes copies by file time;
// retention is the caller's policy. These files are not in the bbolt file and
// not in Backup.
//
// # Backup
//
// Backup(w) and BackupFile(path) copy the whole bbolt file from one read
// transaction (bbolt's Tx.WriteTo), so they work while the daemon runs and
// give a consistent, openable file. BackupFile writes to a temporary file,
// fsyncs and renames, mode 0600.
//
// # Caveats and limits
//
//   - Ticket ids are CS-000001 … CS-999999; NextTicketID skips ids already
//     stored (the web page creates ids too) but cannot know web ids that have
//     not reached the store yet.
//   - Ledger entries, sent outbox metadata and tickets are kept forever;
//     outbox data is dropped when sent, reply counters by PruneReplies.
//   - Message-IDs are compared exactly (case-sensitive) after trimming spaces
//     and one pair of angle brackets; an empty Message-ID never threads.
//   - Record limits: id ≤ 128 bytes, other fields and list items ≤ 512 bytes,
//     ≤ 1000 contacts or domains per customer, CSV record ≤ 128 KiB.
package store
