package torture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Crash points the proxies can hit. Each is a protocol event seen on the wire
// between the daemon and a server; when the armed point is seen the daemon is
// SIGKILLed at exactly that moment.
const (
	// pointFetch: Dovecot starts sending a message body (BODY[] literal) — the
	// kill lands during FETCH, before the batch is handled.
	pointFetch = "imap-fetch-body"
	// pointStore: the daemon sends UID STORE (its marks) — the batch's decision
	// commit is done, the marks are not applied (the line is not forwarded).
	pointStore = "imap-store-after-commit"
	// pointDataEnd: the daemon sends the "." ending SMTP DATA — the line is not
	// forwarded, so the server never accepts the message (kill during DATA).
	pointDataEnd = "smtp-during-data"
	// pointAfter250: the server answers 250 to the end of DATA — forwarded, then
	// the kill: the RFC 1047 window (accepted, "sent" not yet committed).
	pointAfter250 = "smtp-after-250"
)

var allPoints = []string{pointFetch, pointStore, pointDataEnd, pointAfter250}

// trigger is the armed crash point shared by the proxies. fire reports whether
// point was armed (and disarms it) after running the kill.
type trigger struct {
	mu    sync.Mutex
	point string
	skip  int // occurrences to let pass before firing
	kill  func()
	hits  map[string]int
}

// arm makes the (skip+1)-th occurrence of point run kill.
func (tr *trigger) arm(point string, skip int, kill func()) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.point, tr.skip, tr.kill = point, skip, kill
}

func (tr *trigger) disarm() { tr.arm("", 0, nil) }

func (tr *trigger) fire(point string) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.point != point || tr.kill == nil {
		return false
	}
	if tr.skip > 0 {
		tr.skip--
		return false
	}
	tr.kill()
	tr.point, tr.kill = "", nil
	if tr.hits == nil {
		tr.hits = map[string]int{}
	}
	tr.hits[point]++
	return true
}

func (tr *trigger) fired(point string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.hits[point]
}

// tap watches one proxied connection line by line. before runs before a client
// line is forwarded (false: drop it and cut the connection); after runs after a
// server line was forwarded.
type tap interface {
	before(line []byte) bool
	after(line []byte)
}

// proxy is a loopback TCP proxy between the daemon and a server that can kill
// the daemon at a protocol event (see the point* constants) and slow SMTP down.
type proxy struct {
	ln     net.Listener
	target string
	newTap func() tap

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t testing.TB, target string, newTap func() tap) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &proxy{ln: ln, target: target, newTap: newTap, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *proxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, true)
		p.track(s, true)
		tp := p.newTap()
		var once sync.Once
		cut := func() {
			once.Do(func() {
				c.Close()
				s.Close()
				p.track(c, false)
				p.track(s, false)
			})
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); defer cut(); pump(c, s, tp.before, nil) }()
		go func() { defer p.wg.Done(); defer cut(); pump(s, c, nil, tp.after) }()
	}
}

// pump copies src to dst by lines (a line longer than the buffer is copied in
// pieces, unseen by the tap).
func pump(src, dst net.Conn, before func([]byte) bool, after func([]byte)) {
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		whole := err == nil
		if len(line) > 0 {
			if whole && before != nil && !before(line) {
				return
			}
			_, werr := dst.Write(line)
			if whole && after != nil {
				after(line) // even when the daemon is gone: the server said it
			}
			if werr != nil {
				return
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !errors.Is(err, io.EOF) {
				return
			}
			return
		}
	}
}

// imapTap fires pointStore on a UID STORE command and pointFetch on the start of
// a BODY[] literal; slow delays every UID FETCH command (to slow intake down).
type imapTap struct {
	tr   *trigger
	slow *atomic.Int64 // nanoseconds
}

func (t *imapTap) before(line []byte) bool {
	up := bytes.ToUpper(line)
	if bytes.Contains(up, []byte(" UID STORE ")) && t.tr.fire(pointStore) {
		return false
	}
	if d := time.Duration(t.slow.Load()); d > 0 && bytes.Contains(up, []byte(" UID FETCH ")) {
		time.Sleep(d)
	}
	return true
}

func (t *imapTap) after(line []byte) {
	if bytes.Contains(bytes.ToUpper(line), []byte("BODY[] {")) {
		t.tr.fire(pointFetch)
	}
}

// smtpTap follows DATA: pointDataEnd on the terminating ".", pointAfter250 on the
// server's answer to it. slow delays every terminating "." (to keep a backlog
// in flight long enough for a test to stop the daemon in the middle of it).
//
// delivered, when set, is told the Message-ID of every message whose final "."
// is forwarded to the server (which then normally stores it, even when the
// daemon died meanwhile); the daemon run that opened the connection is the
// callback's to remember.
type smtpTap struct {
	tr        *trigger
	slow      *atomic.Int64 // nanoseconds
	delivered func(messageID string)
	inData    atomic.Bool
	awaiting  atomic.Bool

	mu       sync.Mutex
	inHeader bool
	idNext   bool   // Message-ID value folded onto the next line
	msgID    string // of the message in DATA
}

func (t *smtpTap) before(line []byte) bool {
	if !t.inData.Load() {
		if bytes.EqualFold(bytes.TrimRight(line, "\r\n"), []byte("DATA")) {
			t.inData.Store(true)
			t.mu.Lock()
			t.inHeader, t.idNext, t.msgID = true, false, ""
			t.mu.Unlock()
		}
		return true
	}
	if string(line) != ".\r\n" && string(line) != ".\n" {
		t.header(line)
		return true
	}
	t.inData.Store(false)
	if d := time.Duration(t.slow.Load()); d > 0 {
		time.Sleep(d)
	}
	if t.tr.fire(pointDataEnd) {
		return false
	}
	t.awaiting.Store(true)
	if t.delivered != nil {
		t.mu.Lock()
		id := t.msgID
		t.mu.Unlock()
		t.delivered(id)
	}
	return true
}

// header picks the Message-ID out of the header block of the message in DATA.
func (t *smtpTap) header(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inHeader {
		return
	}
	l := bytes.TrimRight(line, "\r\n")
	switch {
	case len(l) == 0:
		t.inHeader = false
	case t.idNext:
		t.msgID, t.idNext = strings.Trim(string(bytes.TrimSpace(l)), "<>"), false
	case len(l) > 11 && strings.EqualFold(string(l[:11]), "message-id:"):
		t.msgID = strings.Trim(strings.TrimSpace(string(l[11:])), "<>")
		t.idNext = t.msgID == ""
	}
}

func (t *smtpTap) after(line []byte) {
	if t.awaiting.Load() && bytes.HasPrefix(line, []byte("250")) {
		t.awaiting.Store(false)
		t.tr.fire(pointAfter250)
	} else if t.awaiting.Load() && len(line) > 3 && line[3] == ' ' {
		t.awaiting.Store(false) // a final non-250 answer
	}
}
