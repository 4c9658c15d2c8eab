package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"time"

	"supportd/internal/memserver"
)

// sink is the recording SMTP server of the test suites (internal/memserver)
// set to accept every message and discard it, keeping only the In-Reply-To
// header and the time the 250 was about to be sent. Its goroutines carry the
// pprof label role=sink, so a CPU profile of the whole process can leave it
// out.
type sink struct {
	srv     *memserver.SMTP
	readers sync.Pool // *bufio.Reader

	mu       sync.Mutex
	accepted int
	dups     int
	maxBytes int64 // largest message accepted since reset
	last     time.Time
	byReply  map[string]time.Time // In-Reply-To → accept time
	notifyCh chan struct{}
}

func startSink() (*sink, error) {
	s := &sink{byReply: map[string]time.Time{}, notifyCh: make(chan struct{}, 1)}
	srv, err := memserver.StartSMTPWith(memserver.SMTPOptions{
		Data:          s.data,
		MaxRecipients: 100,
		Go: func(serve func()) {
			go pprof.Do(context.Background(), pprof.Labels("role", "sink"), func(context.Context) { serve() })
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.srv = srv
	return s, nil
}

func (s *sink) addr() string { return s.srv.Addr() }
func (s *sink) close()       { _ = s.srv.Close() }

// reset forgets everything received so far.
func (s *sink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted, s.dups, s.last, s.maxBytes = 0, 0, time.Time{}, 0
	s.byReply = map[string]time.Time{}
}

// waitAccepted blocks until n messages (of any kind) were accepted since the
// last reset, or timeout.
func (s *sink) waitAccepted(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if got, _, _ := s.stats(); got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			got, _, _ := s.stats()
			return fmt.Errorf("sink got %d of %d messages within %v", got, n, timeout)
		}
		select {
		case <-s.notifyCh:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *sink) largest() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxBytes
}

func (s *sink) lastAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *sink) stats() (accepted, dups int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.dups, s.last
}

// acceptedAt returns when the reply to the message inReplyTo was accepted.
func (s *sink) acceptedAt(inReplyTo string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byReply[inReplyTo]
	return t, ok
}

// unique is the number of distinct In-Reply-To values accepted since reset.
func (s *sink) unique() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byReply)
}

// wait blocks until replies to n distinct messages were accepted since the
// last reset, or timeout.
func (s *sink) wait(n int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, last := s.unique(), s.lastAt()
		if got >= n {
			return last, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return last, fmt.Errorf("sink got %d of %d messages within %v", got, n, timeout)
		}
		select {
		case <-s.notifyCh:
		case <-time.After(min(left, 100*time.Millisecond)):
		}
	}
}

// data reads the header for In-Reply-To, discards the rest at full speed.
func (s *sink) data(_ string, _ []string, r io.Reader) error {
	br, _ := s.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, 32<<10)
	} else {
		br.Reset(r)
	}
	defer s.readers.Put(br)
	var irt []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF {
				break
			}
			return err
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			break
		}
		if len(t) > 12 && bytes.EqualFold(t[:12], []byte("In-Reply-To:")) {
			irt = append(irt[:0], bytes.TrimSpace(t[12:])...)
		}
	}
	rest, err := io.Copy(io.Discard, br)
	if err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	s.accepted++
	s.last = now
	s.maxBytes = max(s.maxBytes, rest)
	if len(irt) > 0 {
		k := string(irt)
		if _, dup := s.byReply[k]; dup {
			s.dups++
		} else {
			s.byReply[k] = now
		}
	}
	s.mu.Unlock()
	select {
	case s.notifyCh <- struct{}{}:
	default:
	}
	return nil
}
