package store

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// AcceptLog is the outbox's journal of SMTP acceptances, "<store path>.sent"
// (mode 0600): the Message-ID of each message a server accepted, appended with
// one write before the next message may go out on that connection. It is not
// synced: the write survives the process (SIGKILL, a panic, the OOM killer),
// which is what bounds the RFC 1047 window to one message per connection,
// while the store's fsync'd commit of the same acceptances (MarkSent) follows
// when the send round ends. After a power failure or a kernel crash the
// acceptances of the round under way can be lost, and those replies are sent
// again with their Message-IDs.
//
// The daemon replays the log at start (Replay) and empties it once a round's
// acceptances are committed (Reset). Add may be called concurrently. While a
// backup runs the log is not emptied (DB.sentGate, WriteBackup): the next
// Reset after the backup empties it. A line kept after its commit is
// harmless: Replay skips an entry already sent.
type AcceptLog struct {
	mu   sync.Mutex
	gate *sync.RWMutex // the store's sentGate
	path string
	f    *os.File
}

// OpenAcceptLog opens (creating it when missing) the store's acceptance log.
func (db *DB) OpenAcceptLog() (*AcceptLog, error) {
	path := db.path + ".sent"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("acceptance log: %w", err)
	}
	return &AcceptLog{gate: &db.sentGate, path: path, f: f}, nil
}

// Add appends the Message-ID of an accepted message.
func (l *AcceptLog) Add(messageID string) error {
	if messageID == "" || strings.ContainsAny(messageID, "\r\n") {
		return fmt.Errorf("acceptance log: %w: Message-ID %q", ErrInvalid, messageID)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.f.WriteString(messageID + "\n")
	return err
}

// Reset empties the log: every acceptance in it is committed to the store.
// While a backup runs it leaves the log as it is (see truncateLocked).
func (l *AcceptLog) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.truncateLocked()
}

// truncateLocked (l.mu held) empties the log unless a backup holds the
// store's sentGate: then it leaves the log as it is (every line in it is
// committed, so keeping it is harmless) and returns at once. It never waits
// for a backup, which lasts as long as its reader wants: waiting would stall
// the outbox loop between rounds (and the watchdog with it). Add never takes
// sentGate, and TryLock never waits, so holding l.mu here cannot deadlock.
func (l *AcceptLog) truncateLocked() error {
	if !l.gate.TryLock() {
		return nil
	}
	defer l.gate.Unlock()
	return l.f.Truncate(0)
}

// Replay marks each logged message still pending in the outbox as sent at at
// (one transaction), then empties the log. It returns how many it marked.
// A last line without its newline (a write cut short) is ignored.
func (l *AcceptLog) Replay(db *DB, at time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := os.ReadFile(l.path)
	if err != nil {
		return 0, fmt.Errorf("acceptance log: %w", err)
	}
	n, err := db.markAccepted(acceptedIDs(data), at)
	if err != nil {
		return 0, fmt.Errorf("acceptance log replay: %w", err)
	}
	return n, l.truncateLocked()
}

// acceptedIDs splits the content of an acceptance log into its Message-IDs:
// the complete lines; what follows the last newline (nothing, or a write cut
// short) is not one.
func acceptedIDs(data []byte) []string {
	lines := strings.Split(string(data), "\n")
	return lines[:len(lines)-1]
}

// completeLines is data up to its last newline (the whole of each line).
func completeLines(data []byte) []byte {
	return data[:bytes.LastIndexByte(data, '\n')+1]
}

// markAccepted marks each of these Message-IDs still pending in the outbox
// as sent at at (one transaction) and returns how many it marked.
func (db *DB) markAccepted(ids []string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	err := db.Update(func(tx *Tx) error {
		n = 0
		for _, id := range ids {
			marked, err := tx.markSentByMessageID(id, at)
			if err != nil {
				return err
			}
			if marked {
				n++
			}
		}
		return nil
	})
	return n, err
}

// Close closes the log file (its content stays for the next Replay).
func (l *AcceptLog) Close() error { return l.f.Close() }

// markSentByMessageID marks the outbox entry with this Message-ID sent unless
// it is already; false when there is no such entry or it was sent.
func (t *Tx) markSentByMessageID(msgid string, at time.Time) (bool, error) {
	id, e, err := t.outboxByMessageID(msgid)
	if e == nil || err != nil || e.State == OutboxSent {
		return false, err
	}
	return true, t.MarkSent(id, at)
}
