package poller

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Fetched is one message of a batch, fetched and spooled.
type Fetched struct {
	UID          uint32
	InternalDate time.Time // receipt time: the SLA clock starts here
	Size         int64     // RFC822.SIZE as announced by the server
	// Path of the spool file holding the raw message; empty when TooLarge.
	// The handler removes it once done with it.
	Path string
	// TooLarge: Size is above Config.MaxMessageBytes (or the server sent more
	// than that); the body was not fetched.
	TooLarge bool
	Flags    []string
}

// SearchNew returns the UIDs above after, ascending (UID SEARCH UID after+1:*).
// "n:*" always matches the highest UID even when it is below n (RFC 3501
// §6.4.8): such UIDs are filtered out.
func (c *Conn) SearchNew(after uint32) ([]uint32, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(after+1), 0) // 0 is "*"
	data, err := c.Client.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("uid search %d:*: %w", after+1, err)
	}
	var uids []uint32
	if all, ok := data.All.(imap.UIDSet); ok {
		nums, ok := all.Nums()
		if !ok {
			return nil, fmt.Errorf("uid search %d:*: server answered a dynamic set", after+1)
		}
		for _, u := range nums {
			if uint32(u) > after {
				uids = append(uids, uint32(u))
			}
		}
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// FetchBatch fetches the longest prefix of uids whose bodies total at most
// maxBytes (at least one message; 0 means no limit) with two UID FETCH
// commands for the whole batch: RFC822.SIZE, INTERNALDATE and FLAGS first,
// then BODY.PEEK[] of the messages not above MaxMessageBytes, each streamed
// into a spool file. It returns how many of uids the batch covered; the rest
// are for the next batch. UIDs the server no longer has (expunged meanwhile)
// are left out. On error no spool file is left behind.
func (c *Conn) FetchBatch(uids []uint32, maxBytes int64) ([]Fetched, int, error) {
	if len(uids) == 0 {
		return nil, 0, nil
	}
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	meta, err := c.fetchMeta(set)
	if err != nil {
		return nil, 0, err
	}

	var bodySet imap.UIDSet
	var total int64
	bodies := 0
	for i, u := range uids {
		m, ok := meta[u]
		if !ok {
			c.log.Debug("imap message gone before fetch", "uid", u)
			continue
		}
		if m.Size > c.cfg.MaxMessageBytes {
			m.TooLarge = true
			continue
		}
		if maxBytes > 0 && bodies > 0 && total+m.Size > maxBytes {
			// The rest waits for the next batch (fetched again from meta on).
			for _, v := range uids[i:] {
				delete(meta, v)
			}
			uids = uids[:i]
			break
		}
		total += m.Size
		bodies++
		bodySet.AddNum(imap.UID(u))
	}
	if len(bodySet) > 0 {
		if err := c.fetchBodies(bodySet, meta); err != nil {
			for _, m := range meta {
				removeSpool(m.Path)
			}
			return nil, 0, err
		}
	}

	out := make([]Fetched, 0, len(meta))
	for _, u := range uids {
		m, ok := meta[u]
		if !ok {
			continue
		}
		if !m.TooLarge && m.Path == "" {
			c.log.Debug("imap message gone before body fetch", "uid", u)
			continue
		}
		out = append(out, *m)
	}
	return out, len(uids), nil
}

func (c *Conn) fetchMeta(set imap.UIDSet) (map[uint32]*Fetched, error) {
	cmd := c.Client.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true, Flags: true})
	defer cmd.Close()
	meta := make(map[uint32]*Fetched)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var f Fetched
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				f.UID = uint32(it.UID)
			case imapclient.FetchItemDataRFC822Size:
				f.Size = it.Size
			case imapclient.FetchItemDataInternalDate:
				f.InternalDate = it.Time
			case imapclient.FetchItemDataFlags:
				for _, fl := range it.Flags {
					f.Flags = append(f.Flags, string(fl))
				}
			}
		}
		if f.UID != 0 {
			meta[f.UID] = &f
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("uid fetch %v (size, date, flags): %w", set, err)
	}
	return meta, nil
}

// fetchBodies streams BODY.PEEK[] of set into spool files, recording the
// path in meta. Each literal is read to its end before msg.Next() (the
// library discards unread literals when moving on).
func (c *Conn) fetchBodies(set imap.UIDSet, meta map[uint32]*Fetched) error {
	cmd := c.Client.Fetch(set, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	defer cmd.Close()
	var firstErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid uint32
		var tmp string
		var tooBig bool
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = uint32(it.UID)
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil || tmp != "" || tooBig {
					continue
				}
				lit := &literalReader{r: it.Literal}
				path, big, err := c.spool(lit)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if lit.err != nil {
					// go-imap (v2 beta.8) resumes decoding as soon as a literal
					// read fails; reading that literal again (msg.Next and
					// cmd.Close discard it) would race with its reader
					// goroutine on the shared buffer. Close the client first:
					// Close waits for that goroutine to end.
					c.Client.Close()
				}
				tmp, tooBig = path, big
			}
		}
		m := meta[uid]
		if m == nil { // not asked for: ignore
			removeSpool(tmp)
			continue
		}
		if tooBig {
			m.TooLarge = true
			c.log.Warn("imap message larger than announced", "uid", uid, "size", m.Size, "limit", c.cfg.MaxMessageBytes)
			continue
		}
		if tmp == "" {
			continue
		}
		final := filepath.Join(c.cfg.SpoolDir, fmt.Sprintf("uv%d-uid%d.eml", c.Mailbox.UIDValidity, uid))
		if err := os.Rename(tmp, final); err != nil {
			removeSpool(tmp)
			if firstErr == nil {
				firstErr = fmt.Errorf("spool uid %d: %w", uid, err)
			}
			continue
		}
		m.Path = final
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("uid fetch %v body.peek[]: %w", set, err)
	}
	return firstErr
}

// spool copies a literal into a new file of the spool directory, at most
// MaxMessageBytes of it: tooBig reports a longer literal (file removed; the
// rest is discarded by the library).
func (c *Conn) spool(r io.Reader) (path string, tooBig bool, err error) {
	f, err := os.CreateTemp(c.cfg.SpoolDir, "fetch-*.part")
	if err != nil {
		return "", false, fmt.Errorf("spool: %w", err)
	}
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, 32<<10)
	}
	// io.Copy(f, …) would allocate 32 KiB per message (os.File's ReadFrom
	// falls back to it for a network source): the writer is wrapped so that
	// CopyBuffer uses the connection's buffer.
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, io.LimitReader(r, c.cfg.MaxMessageBytes+1), c.copyBuf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeSpool(f.Name())
		return "", false, fmt.Errorf("spool %s: %w", f.Name(), err)
	}
	if n > c.cfg.MaxMessageBytes {
		removeSpool(f.Name())
		return "", true, nil
	}
	return f.Name(), false, nil
}

// literalReader remembers the first read error of a literal other than io.EOF
// (the connection failed in the middle of it).
type literalReader struct {
	r   io.Reader
	err error
}

func (l *literalReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF && l.err == nil {
		l.err = err
	}
	return n, err
}

func removeSpool(path string) {
	if path == "" {
		return
	}
	_ = os.Remove(path) // best effort: a leftover is overwritten by the next fetch of that UID
}
