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
//	meta                  "schema_version" → uint64 BE (2);
//	                      "start:<mailbox>" → JSON StartRecord (where reading
//	                      the mailbox began: the --start-at choice)
//	customers             customer id → JSON {id, company, contacts, domains,
//	                      license, asup_expires, trial_expires (YYYY-MM-DD or
//	                      absent), free5, extended_support, ha_module,
//	                      reset_portal, remote_sites (both omitted when false)}
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
//	replies               counter key (triage.CounterKeys: normalised reply
//	                      target, "ticket:T:addr", "unknown-domain:D",
//	                      "unknown:*", "sales:C") → sorted Unix seconds (8 BE
//	                      each) of automatic replies, pruned to 7 days and
//	                      1,000 entries on write
//	customers_import      only while ImportCustomers runs (or after a crash in
//	                      one, until the next read-write Open): the next
//	                      generation, as sub-buckets customers,
//	                      customers_by_contact and customers_by_domain
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
// # Customer CSV import: all or nothing, in bounded memory
//
// ImportCustomers validates every row (ReadCustomersCSV: header, field count,
// dates, licence, booleans, addresses, domains, lengths, duplicate ids),
// checks conflicts (a contact or domain listed by two rows, or owned by an
// existing customer that the file does not list) and, only if there is no
// error at all, writes the changes: in place when they are few, otherwise
// by replacing the customers bucket and both indexes with a new generation
// (the stored customers merged with the file's rows). Any error
// writes nothing, and the error (*CSVError) lists up to 20 problems with
// their line numbers. Re-importing the same file writes nothing (every row
// Unchanged, no new generation). Customers missing from the file are kept
// (the import never deletes).
//
// bbolt keeps every dirty page of a write transaction in memory until
// commit, so one transaction for the whole file (the first design) cost
// about 1.4 GB per million rows. The import now runs in four steps (the
// last two replaced by one when few rows change), none of which holds more
// than a bounded buffer:
//
//  1. Read. The CSV is streamed; valid rows are compared with their stored
//     record in batches of 10,000 rows or 8 MiB, whichever comes first
//     (one short read transaction each), and become sorted records: "id NUL
//     line flags JSON" (flags: changed or not; the JSON only when changed)
//     and index entries "kind key NUL line flags id", plus a stale entry for
//     each key a changed customer no longer lists. Each of the two kinds is buffered up to 4 MiB, sorted, and
//     written as run files to a work directory beside the store
//     (supportd.db.import-*, mode 0700). Duplicate ids are not tracked in a
//     map here.
//  2. Check. The record runs are merged (k-way, at most 64 at once; more are
//     merged in levels first): equal ids are the duplicate-id errors. The
//     index runs are merged: consecutive claims of one key are the "also
//     listed" conflicts, and the first claim is checked against the stored
//     owner (looked up in read transactions of 10,000 gets). Whether the file
//     lists that owner is known from the key's own entries: the owner's
//     record lists the key (every writer keeps that invariant), so a valid
//     row of the owner left either a claim or a stale entry there. The
//     errors kept are exactly those the one-pass reader reported before:
//     the first 20 in file order, then conflicts in key order, sorted by line.
//  3. Build. In write transactions of 10,000 keys or 8 MiB of keys and
//     values, whichever comes first (a record can be ~130 KB), the stored
//     customers bucket is merged with the file's records (changed rows win), and each
//     stored index with the file's entries (a changed row's claim wins; a
//     stored entry stays unless its owner's changed row dropped the key),
//     into sub-buckets of customers_import, in key order with pages filled
//     to 90%. The stored generation is read inside the same transactions
//     (a cursor sought again after each commit), so no read transaction
//     stays open while the file grows.
//  4. Swap. One transaction deletes the three live buckets and moves the
//     staged ones into their place (bbolt Tx.MoveBucket), keeping each
//     bucket's sequence. Readers see the old generation or the new one,
//     never a mix; lookups then run on a B+tree built in key order, as before.
//
// Few changes are written in place instead of steps 3 and 4: when the check
// finds at most 10,000 new or changed rows holding at most 32 MiB of records
// and index keys, one write transaction puts their records and, per index
// key, the same result the build gives (the claim set, or a stale entry
// deleted). A new generation rewrites every page and frees the old ones:
// adding 1 row to a 200,000-row store grew the file from 83 to 168 MB and
// left 19,845 free pages, a freelist bbolt then writes on every commit; in
// place the file stays at 83 MB with 5 free pages (BenchmarkImportSmallChange).
// At the limit, 10,000 changed rows spread over that store, the in-place
// transaction took 1.1 s and left a 133 MB file (a new generation: 1.5 s,
// 167 MB), with the same peak heap (77 MB against 82 MB, both counting the
// 40 MB the measuring test held). Readers see all of the changes or none.
//
// A crash before the swap commits leaves the store as before plus the
// customers_import bucket and the work directory; the next read-write Open
// (and the next import) deletes both and logs a warning (Options.Logger).
// An import that fails deletes them itself. ImportCustomersContext stops
// when its context is done (checked between read batches, merge steps and
// build transactions, and right before the swap), with an error wrapping
// ctx.Err(): the customers are as before and the leftovers are deleted the
// same way. Imports of one DB are
// serialised; changing customers from another goroutine of the same process
// during an import is not supported (the swap would drop that change). The
// file lock keeps other processes out: run the import with the daemon
// stopped.
//
// Costs. The work directory needs about twice the size of the CSV (252 MB
// for 1,000,000 rows of 115 MB), removed at the end; the file holds both generations
// until the swap and keeps the freed pages for later writes, so a full
// re-import of changed data can double it. Measured on this machine (2
// shared cores, load ~5, fsync on, `supportd customers import` into a fresh
// store, rows with one contact and one domain): 100,000 rows in 0.6–1.6 s
// with a peak RSS of 47–49 MB, 1,000,000 rows in 4.5–10.5 s with 50–52 MB
// (the previous design, same runs: 148–168 MB, and 1,470–1,490 MB in
// 11.5 s); BenchmarkImportCSV (two contacts, one domain) 7.0–7.6 s, about
// 135,000 rows/s, peak heap 28–30 MB, a 403 MB file. Importing
// into a store that already holds the customers reads their records through
// bbolt's mmap, so RSS also counts the mapped file pages (about the file's
// size; page cache, not heap): the anonymous memory stays near 50 MB. Wide
// rows (TestImportWideRowsBoundedHeap: 2,000 rows of 150 contacts of ~200
// bytes) peak at about 55 MB of heap; bounded by row count alone they took
// 285 MB, and rows of 500 contacts reached 2.4 GB RSS at 9,000 rows.
// Lookups on the 1,000,000-customer store (BenchmarkCustomerByContact/
// ByDomain, each in its own read transaction): p50 about 6 µs, p99 19–32 µs,
// as with the previous design in alternating runs under the same load
// (11–38 µs): the trees have the same depth, page counts and fill.
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
// retention is the caller's policy. These files are not in the bbolt file;
// the backup archive holds them.
//
// # Backup and restore
//
// Backup(w) copies the bbolt file alone from one read transaction (bbolt's
// Tx.WriteTo): a consistent, openable snapshot, which the CLI's reading
// commands open while the daemon holds the store. WriteBackup(w) and
// BackupFile(path) (temporary file, fsync, rename, mode 0600) write the
// backup archive: a gzip'd tar of supportd-backup.json (format, version,
// schema), store.db (that snapshot), raw/<name>.eml (every raw copy, file
// time kept) and, last, MANIFEST.json with the size and SHA-256 of each
// entry. The daemon holds HoldRawCommit (shared) from a batch's commit until
// its raw copies are adopted; the backup takes it exclusively while it
// starts its snapshot and lists the raw directory, so every message in the
// snapshot has its raw copy in the archive.
//
// RestoreFile(backup, storePath) refuses a storePath that exists with data
// or a non-empty raw directory (ErrNotEmpty). It unpacks into a work
// directory beside storePath, checks everything (order, names — no paths
// outside raw/ —, every manifest sum, the gzip CRC, a read-write Open that
// migrates an older schema and refuses a newer one, bbolt's Check), and only
// then moves the raw directory into place and links the store file (Link
// never replaces a file that appeared meanwhile). Any failure wraps
// ErrBadBackup ("not a complete supportd backup: …") and leaves storePath as
// it was. VerifyBackupFile runs the same checks without writing.
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
