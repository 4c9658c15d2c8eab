package daemon

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"supportd/mailparse"
	"supportd/store"
)

// A message counts as one seen before when it is the same content, not
// merely the same Message-ID (issue 13 item 5): anyone can write another
// customer's Message-ID into a message of their own, and a duplicate gets
// no reply, no staff copy and the first message's keywords.

// fingerprint identifies what makes a message itself, whatever trace headers
// (Received, Delivered-To, Return-Path) a second delivery of it added: its
// Message-ID, From, Subject, Date, text and attachments.
func fingerprint(m *mailparse.Message) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	from := ""
	if m.From != nil {
		from = m.From.Addr
	}
	field(store.NormalizeMessageID(m.MessageID))
	field(from)
	field(m.Subject)
	field(dateKey(m.Date))
	field(m.Text)
	for _, a := range m.Attachments {
		field(a.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func dateKey(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// seenBefore finds an earlier ledger entry of the same message: the same
// bytes, the same content, or the same Message-ID on the same content (an
// entry written before fingerprints existed counts as the same content). A
// Message-ID already recorded on different content returns nil and reused:
// the message is new, and staff are told its Message-ID is not its own.
func seenBefore(tx *store.Tx, messageID, hash, fp string) (e *store.LedgerEntry, reused bool) {
	if e, err := tx.SeenMessage(store.MessageKey("", hash)); err == nil && e != nil {
		return e, false
	}
	if e, err := tx.SeenMessage(store.FingerprintKey(fp)); err == nil && e != nil {
		return e, false
	}
	if messageID == "" {
		return nil, false
	}
	e, err := tx.SeenMessage(store.MessageKey(messageID, ""))
	if err != nil || e == nil {
		return nil, false
	}
	if e.Fingerprint == "" || fp == "" || e.Fingerprint == fp {
		return e, false
	}
	return nil, true
}

// isDuplicate reports whether seenBefore finds an earlier entry.
func isDuplicate(tx *store.Tx, messageID, hash, fp string) bool {
	e, _ := seenBefore(tx, messageID, hash, fp)
	return e != nil
}
