package store

import (
	"crypto/rand"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keySecret is the meta key of the store's secret: 32 random bytes made once,
// when a read-write Open first finds none. It keys the MACs of the signed
// reply addresses of staff copies; it never leaves the store (backups aside).
var keySecret = []byte("secret")

func ensureSecret(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if len(meta.Get(keySecret)) == 32 {
		return nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("store secret: %w", err)
	}
	return meta.Put(keySecret, b)
}

// Secret is the store's secret (a copy), nil if the store has none yet (a
// read-only open of a file no read-write open has touched since it existed).
func (t *Tx) Secret() []byte {
	v := t.bucket(bMeta).Get(keySecret)
	if len(v) != 32 {
		return nil
	}
	return append([]byte(nil), v...)
}
