package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// A migration turns schema version from into from+1, inside the single
// read-write transaction of Open (so a failed migration leaves the file as it
// was). Buckets of the target schema already exist when fn runs.
type migration struct {
	from int
	desc string
	fn   func(tx *bolt.Tx) error
}

// migrations, one per version step up to SchemaVersion.
var migrations = []migration{
	{from: 1, desc: "add secondary indexes, replies counters, outbox data split", fn: migrate1to2},
	{from: 2, desc: "add ticket_due (SLA events) and the reply-address secret", fn: rebuildTicketDue},
}

// bucketsV1 are the buckets of schema v1 (the first prototype): primary
// records only, plus the contact index.
var bucketsV1 = [][]byte{bMeta, bCustomers, bByContact, bTickets, bLedger, bCheckpoints, bOutbox}

// migrate brings the file to SchemaVersion: it initialises an empty file, runs
// the migrations from its version on, and refuses a newer version. It returns
// the resulting version.
func migrate(tx *bolt.Tx, ms []migration) (int, error) {
	v, err := schemaVersion(tx)
	if err != nil {
		return 0, err
	}
	if v > SchemaVersion {
		return v, fmt.Errorf("%w: file has v%d, this supportd knows up to v%d", ErrSchemaTooNew, v, SchemaVersion)
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return v, fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if err := ensureSecret(tx); err != nil {
		return v, err
	}
	if v == 0 {
		return SchemaVersion, putSchemaVersion(tx, SchemaVersion)
	}
	for v < SchemaVersion {
		var m *migration
		for i := range ms {
			if ms[i].from == v {
				m = &ms[i]
			}
		}
		if m == nil {
			return v, fmt.Errorf("no migration from schema v%d", v)
		}
		if err := m.fn(tx); err != nil {
			return v, fmt.Errorf("migrate schema v%d to v%d (%s): %w", v, v+1, m.desc, err)
		}
		v++
	}
	return v, putSchemaVersion(tx, v)
}

// migrate1to2: v1 had customers, customers_by_contact, tickets, ledger,
// checkpoints and an outbox whose JSON held the message data inline. v2 adds
// customers_by_domain, ticket_by_msgid, ledger_by_msgkey, ledger_unmarked,
// outbox_data, outbox_by_msgid, outbox_due and replies; all indexes are
// rebuilt from the primary records.
func migrate1to2(tx *bolt.Tx) error {
	if _, err := rebuildCustomerIndexes(tx); err != nil {
		return err
	}
	if err := rebuildTicketIndex(tx); err != nil {
		return err
	}
	if err := rebuildLedgerIndexes(tx); err != nil {
		return err
	}
	return migrateOutboxV1(tx)
}
