package store

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// External sort of byte records, for the import: records are compared with
// bytes.Compare, buffered up to runBytes, written sorted to run files in a
// temporary directory, and read back through a k-way merge. Memory is
// runBytes plus one read buffer per merged run (at most maxFanIn runs are
// merged at once; more are first merged into longer runs).

const (
	runBytes    = 4 << 20  // record bytes buffered before a run is written
	maxFanIn    = 64       // runs merged at once
	runBufBytes = 32 << 10 // read/write buffer of one run file
)

// sorter collects records and hands them back in order. After finish, iter
// may be called any number of times.
type sorter struct {
	ctx   context.Context // checked between merges of runs
	dir   string
	name  string
	arena []byte   // records back to back
	ends  []uint32 // ends[i] is where record i ends in arena
	runs  []string
	limit int // runBytes; smaller in tests
}

func newSorter(ctx context.Context, dir, name string) *sorter {
	return &sorter{ctx: ctx, dir: dir, name: name, limit: runBytes}
}

// add copies rec into the sorter, spilling a run when the buffer is full.
func (s *sorter) add(rec []byte) error {
	if len(s.arena) > 0 && len(s.arena)+len(rec) > s.limit {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.arena = append(s.arena, rec...)
	s.ends = append(s.ends, uint32(len(s.arena)))
	return nil
}

func (s *sorter) rec(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.arena[start:s.ends[i]]
}

// sortBuffer sorts the buffered records, returned as slices of the arena.
func (s *sorter) sortBuffer() [][]byte {
	recs := make([][]byte, len(s.ends))
	for i := range recs {
		recs[i] = s.rec(i)
	}
	slices.SortFunc(recs, bytes.Compare)
	return recs
}

// spill writes the buffered records as one sorted run file.
func (s *sorter) spill() error {
	recs := s.sortBuffer()
	path, err := writeRun(s.dir, s.name, func(emit func([]byte) error) error {
		for _, r := range recs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.runs = append(s.runs, path)
	s.arena, s.ends = s.arena[:0], s.ends[:0]
	return nil
}

// writeRun creates a run file and writes the records fill emits (already in
// order), each as a uvarint length and the bytes.
func writeRun(dir, name string, fill func(emit func([]byte) error) error) (string, error) {
	f, err := os.CreateTemp(dir, name+"-*.run")
	if err != nil {
		return "", fmt.Errorf("create sort run: %w", err)
	}
	w := bufio.NewWriterSize(f, runBufBytes)
	var lenBuf [binary.MaxVarintLen64]byte
	err = fill(func(rec []byte) error {
		n := binary.PutUvarint(lenBuf[:], uint64(len(rec)))
		if _, err := w.Write(lenBuf[:n]); err != nil {
			return err
		}
		_, err := w.Write(rec)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write sort run: %w", err)
	}
	return f.Name(), nil
}

// finish ends the adding. A sorter that never spilled keeps its records in
// memory; otherwise the rest is spilled and runs are merged down to maxFanIn.
func (s *sorter) finish() error {
	if len(s.runs) == 0 {
		recs := s.sortBuffer()
		arena := make([]byte, 0, len(s.arena))
		s.ends = s.ends[:0]
		for _, r := range recs {
			arena = append(arena, r...)
			s.ends = append(s.ends, uint32(len(arena)))
		}
		s.arena = arena
		return nil
	}
	if len(s.ends) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.arena, s.ends = nil, nil
	for len(s.runs) > maxFanIn {
		var next []string
		for i := 0; i < len(s.runs); i += maxFanIn {
			if err := s.ctx.Err(); err != nil {
				return fmt.Errorf("cancelled: %w", err)
			}
			group := s.runs[i:min(i+maxFanIn, len(s.runs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			it, err := openMerge(group)
			if err != nil {
				return err
			}
			path, err := writeRun(s.dir, s.name, func(emit func([]byte) error) error {
				for {
					rec, err := it.next()
					if err != nil || rec == nil {
						return err
					}
					if err := emit(rec); err != nil {
						return err
					}
				}
			})
			it.close()
			if err != nil {
				return err
			}
			for _, p := range group {
				_ = os.Remove(p)
			}
			next = append(next, path)
		}
		s.runs = next
	}
	return nil
}

// recIter yields records in order; next returns nil at the end. A record is
// valid until the following call to next.
type recIter interface {
	next() ([]byte, error)
	close()
}

// iter returns a new iterator over every record, in order.
func (s *sorter) iter() (recIter, error) {
	if len(s.runs) == 0 {
		return &memIter{s: s}, nil
	}
	return openMerge(s.runs)
}

type memIter struct {
	s *sorter
	i int
}

func (m *memIter) next() ([]byte, error) {
	if m.i >= len(m.s.ends) {
		return nil, nil
	}
	m.i++
	return m.s.rec(m.i - 1), nil
}

func (m *memIter) close() {}

// runReader reads one run file.
type runReader struct {
	f   *os.File
	r   *bufio.Reader
	cur []byte
}

func (rr *runReader) advance() (bool, error) {
	n, err := binary.ReadUvarint(rr.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read sort run: %w", err)
	}
	if n > 64<<20 { // far above any record the import writes: a damaged file
		return false, fmt.Errorf("read sort run: record of %d bytes", n)
	}
	rr.cur = slices.Grow(rr.cur[:0], int(n))[:n]
	if _, err := io.ReadFull(rr.r, rr.cur); err != nil {
		return false, fmt.Errorf("read sort run: %w", err)
	}
	return true, nil
}

// mergeIter is a k-way merge of run files (a min-heap of their heads).
type mergeIter struct {
	all  []*runReader
	heap runHeap
	last *runReader // the reader whose record next returned last
}

type runHeap []*runReader

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bytes.Compare(h[i].cur, h[j].cur) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*runReader)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func openMerge(paths []string) (*mergeIter, error) {
	m := &mergeIter{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			m.close()
			return nil, fmt.Errorf("open sort run: %w", err)
		}
		rr := &runReader{f: f, r: bufio.NewReaderSize(f, runBufBytes)}
		m.all = append(m.all, rr)
		ok, err := rr.advance()
		if err != nil {
			m.close()
			return nil, err
		}
		if ok {
			m.heap = append(m.heap, rr)
		}
	}
	heap.Init(&m.heap)
	return m, nil
}

func (m *mergeIter) next() ([]byte, error) {
	if m.last != nil {
		ok, err := m.last.advance()
		if err != nil {
			return nil, err
		}
		if ok {
			heap.Fix(&m.heap, 0)
		} else {
			heap.Pop(&m.heap)
		}
		m.last = nil
	}
	if len(m.heap) == 0 {
		return nil, nil
	}
	m.last = m.heap[0]
	return m.last.cur, nil
}

func (m *mergeIter) close() {
	for _, rr := range m.all {
		_ = rr.f.Close()
	}
	m.all, m.heap, m.last = nil, nil, nil
}
