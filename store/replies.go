package store

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Auto-reply counter limits: timestamps older than ReplyRetention are dropped
// whenever a counter is written, and at most MaxRepliesCounted are kept (the
// newest): a rate limit above it could never be reached (config check says so).
const (
	ReplyRetention    = 7 * 24 * time.Hour
	MaxRepliesCounted = 1000
)

// The replies bucket maps a counter key, lower-cased, to its automatic-reply
// times: a sorted list of Unix seconds, 8 bytes big-endian each. The keys are
// triage.CounterKeys: the normalised reply target, and prefixed keys for a
// target on a ticket, the unknown-sender caps and the daily sales copy.
func decodeReplies(v []byte) ([]int64, error) {
	if len(v)%8 != 0 {
		return nil, fmt.Errorf("replies: bad value length %d", len(v))
	}
	out := make([]int64, len(v)/8)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint64(v[i*8:]))
	}
	return out, nil
}

func replyKey(addr string) []byte { return []byte(strings.ToLower(strings.TrimSpace(addr))) }

// RepliesInWindow counts the automatic replies sent to addr in (now-window, now].
func (t *Tx) RepliesInWindow(addr string, now time.Time, window time.Duration) (int, error) {
	k := replyKey(addr)
	if len(k) == 0 {
		return 0, nil
	}
	ts, err := decodeReplies(t.bucket(bReplies).Get(k))
	if err != nil {
		return 0, fmt.Errorf("replies to %s: %w", addr, err)
	}
	from, to := now.Add(-window).Unix(), now.Unix()
	n := 0
	for _, s := range ts {
		if s > from && s <= to {
			n++
		}
	}
	return n, nil
}

// AddReply records an automatic reply to addr at time at, dropping that
// address's entries older than ReplyRetention before at.
func (t *Tx) AddReply(addr string, at time.Time) error {
	k := replyKey(addr)
	if len(k) == 0 || len(k) > 1000 {
		return fmt.Errorf("add reply: %w: address %q", ErrInvalid, truncate(addr))
	}
	b := t.bucket(bReplies)
	ts, err := decodeReplies(b.Get(k))
	if err != nil {
		return fmt.Errorf("add reply to %s: %w", addr, err)
	}
	cut := at.Add(-ReplyRetention).Unix()
	kept := ts[:0]
	for _, s := range ts {
		if s > cut {
			kept = append(kept, s)
		}
	}
	// Insert keeping the list sorted (at is normally the newest).
	s := at.Unix()
	i := len(kept)
	for i > 0 && kept[i-1] > s {
		i--
	}
	kept = append(kept, 0)
	copy(kept[i+1:], kept[i:])
	kept[i] = s
	if len(kept) > MaxRepliesCounted {
		kept = kept[len(kept)-MaxRepliesCounted:]
	}
	v := make([]byte, 0, 8*len(kept))
	for _, s := range kept {
		v = binary.BigEndian.AppendUint64(v, uint64(s))
	}
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("add reply to %s: %w", addr, err)
	}
	return nil
}

// PruneReplies deletes the counters of addresses whose newest reply is before
// olderThan, and returns how many were deleted. Run it now and then (daily):
// AddReply prunes only the address it writes.
func (t *Tx) PruneReplies(olderThan time.Time) (int, error) {
	b := t.bucket(bReplies)
	cut := olderThan.Unix()
	var del [][]byte
	err := b.ForEach(func(k, v []byte) error {
		ts, err := decodeReplies(v)
		if err != nil {
			return err
		}
		if len(ts) == 0 || ts[len(ts)-1] < cut {
			del = append(del, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune replies: %w", err)
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return 0, fmt.Errorf("prune replies: %w", err)
		}
	}
	return len(del), nil
}
