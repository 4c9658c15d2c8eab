package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/oauth2"
)

// Handler receives the spooled messages and decides what happens to them on
// the server. It owns the checkpoint (persisted with what it stores).
type Handler interface {
	// Checkpoint returns the last UID fully handled for this
	// mailbox+UIDVALIDITY (0 when unknown or when UIDVALIDITY changed).
	Checkpoint(mailbox string, uidValidity uint32) (uint32, error)
	// Handle processes one batch (already fetched and spooled) and returns
	// what to do on the server. An error means "nothing of this batch was
	// handled": the batch is fetched again after a backoff.
	Handle(ctx context.Context, mb Mailbox, batch []Fetched) ([]Mark, error)
}

// MarkTracker is implemented by a Handler that persists the marks it asked for,
// so marks lost in a crash (after the handler committed, before the server
// stored them) are applied again: at the start of every session the poller asks
// for Unmarked and applies them, and it reports every applied mark with Marked.
type MarkTracker interface {
	Unmarked(mailbox string, uidValidity uint32) ([]Mark, error)
	Marked(mailbox string, uidValidity uint32, uids []uint32)
}

// Stats is a snapshot of the poller's state (metrics, /healthz).
type Stats struct {
	Connected   bool
	Reconnects  int   // successful connects after the first one
	LastError   error // an *AuthError when the server refused the login
	LastErrorAt time.Time
	// AuthFailures counts logins the server refused.
	AuthFailures int
	LastPoll     time.Time // end of the last completed UID SEARCH
	UIDValidity  uint32
	LastUID      uint32 // last UID the handler accepted
	Delivered    int64  // messages handed to the handler and accepted
	// TokenExpiry of the last OAuth2 access token used (zero: no OAuth2).
	TokenExpiry time.Time
	// TokenWarning: the token could not be refreshed, or expires within 10
	// minutes even after asking the TokenSource for a fresh one.
	TokenWarning bool
	// KeywordsDropped counts keywords not stored because the mailbox cannot
	// store keywords (PERMANENTFLAGS without \*); each session warns once.
	KeywordsDropped int64
}

// Poller reads one mailbox and hands new messages to a Handler.
type Poller struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
	// remark asks the next cycle to apply the handler's unmarked marks again
	// (keywords the handler added after the fact, e.g. Overdue).
	remark atomic.Bool

	mu        sync.Mutex
	stats     Stats
	connects  int
	pending   []Mark // marks not yet applied (connection lost), for pendingUV
	pendingUV uint32
	lastUV    uint32 // last UID accepted by the handler in this process, per UIDVALIDITY
	lastUID   uint32

	keywordsDropped atomic.Int64
}

// New validates cfg (errors name the config keys: imap.address, imap.tls …)
// and returns a Poller. When cfg.SpoolDir is empty a private spool directory
// is created under os.TempDir().
func New(cfg Config) (*Poller, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Poller{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1)}
	p.cfg.keywordsDropped = &p.keywordsDropped
	if cfg.SpoolDir == "" {
		dir, err := os.MkdirTemp("", "supportd-spool-*")
		if err != nil {
			return nil, fmt.Errorf("imap.spool_dir: %w", err)
		}
		p.cfg.SpoolDir = dir
	}
	return p, nil
}

// SpoolDir returns the directory spool files are written to.
func (p *Poller) SpoolDir() string { return p.cfg.SpoolDir }

// Stats returns a snapshot.
func (p *Poller) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.KeywordsDropped = p.keywordsDropped.Load()
	return st
}

func (p *Poller) update(f func(s *Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// errHandle marks a Handler.Handle failure: the connection stays up.
type errHandle struct{ err error }

func (e errHandle) Error() string { return "handler: " + e.err.Error() }
func (e errHandle) Unwrap() error { return e.err }

// Run polls until ctx is done, reconnecting with capped exponential backoff
// and jitter after any error. It returns nil when ctx is cancelled.
func (p *Poller) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("poller: nil handler")
	}
	attempt := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		err := p.session(ctx, h, &attempt)
		p.update(func(s *Stats) { s.Connected = false })
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrStartAtRequired) || errors.Is(err, ErrNoSpecialUse) {
			p.fail(err)
			return err // the operator must choose: retrying cannot help
		}
		delay := backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, attempt)
		attempt++
		p.fail(err)
		if ae := (*AuthError)(nil); errors.As(err, &ae) {
			p.update(func(s *Stats) { s.AuthFailures++ })
			p.log.Error("imap authentication failed", "user", ae.Username, "key", ae.Key, "err", err,
				"retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		} else {
			p.log.Error("imap session failed", "err", err, "retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		}
		if !sleep(ctx, delay) {
			return nil
		}
	}
}

func (p *Poller) fail(err error) {
	now := p.cfg.Now()
	p.update(func(s *Stats) { s.LastError, s.LastErrorAt = err, now })
}

// backoff returns min·2^attempt capped at max, with jitter in [d/2, d].
func backoff(min, max time.Duration, attempt int) time.Duration {
	d := max
	if attempt < 30 {
		if x := min << attempt; x > 0 && x < max {
			d = x
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Connect opens one session as Run does: a fresh OAuth2 token when
// configured, connect, TLS, authenticate, select the mailbox. Run calls it at
// every (re)connect; tests of TLS and login call it once. Close the Conn.
func (p *Poller) Connect(ctx context.Context) (*Conn, error) {
	var tok *oauth2.Token
	if ts := p.cfg.TokenSource; ts != nil {
		var err error
		tok, err = ts.Token()
		if err != nil {
			p.update(func(s *Stats) { s.TokenWarning = true })
			p.log.Warn("oauth2 token refresh failed", "err", err)
			return nil, fmt.Errorf("oauth2 token: %w", err)
		}
		now := p.cfg.Now()
		warn := !tok.Expiry.IsZero() && tok.Expiry.Sub(now) < tokenWarnBefore
		p.update(func(s *Stats) { s.TokenExpiry, s.TokenWarning = tok.Expiry, warn })
		if warn {
			p.log.Warn("oauth2 token expires soon and was not refreshed", "expiry", tok.Expiry, "in", tok.Expiry.Sub(now).Round(time.Second))
		}
	}
	uh := &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				p.signal()
			}
		},
	}
	return dial(ctx, p.cfg, tok, uh)
}

func (p *Poller) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Remark makes the poller apply the handler's unmarked marks (MarkTracker)
// at its next cycle, which it starts now.
func (p *Poller) Remark() {
	p.remark.Store(true)
	p.signal()
}

func (p *Poller) drainWake() {
	select {
	case <-p.wake:
	default:
	}
}

// session runs one connection: catch-up, then wait for mail, forever.
func (p *Poller) session(ctx context.Context, h Handler, attempt *int) error {
	conn, err := p.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect %s: %w", p.cfg.Address, err)
	}
	// No context.AfterFunc closing the connection: a cancelled ctx ends the
	// waits (IDLE, polling) and the batch loop, but lets the commands in
	// flight finish, so the marks of a batch the handler committed are still
	// applied before LOGOUT. Every command is bounded by ReadTimeout.
	defer conn.Close()

	p.mu.Lock()
	p.connects++
	if p.connects > 1 {
		p.stats.Reconnects++
	}
	p.stats.Connected = true
	p.stats.UIDValidity = conn.Mailbox.UIDValidity
	p.mu.Unlock()

	handleFailures := 0
	for first := true; ; first = false {
		p.drainWake()
		err := p.cycle(ctx, conn, h, first)
		if ctx.Err() != nil {
			return nil
		}
		var he errHandle
		switch {
		case errors.As(err, &he):
			d := backoff(p.cfg.BackoffMin, p.cfg.BackoffMax, handleFailures)
			handleFailures++
			p.fail(err)
			p.log.Error("handler failed; batch will be fetched again", "err", he.err, "retry_in", d.Round(time.Millisecond))
			if err := p.pollWait(ctx, conn, d, false); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		handleFailures = 0
		*attempt = 0
		if err := p.waitForMail(ctx, conn); err != nil {
			return err
		}
	}
}

// cycle applies leftover marks, then fetches everything above the
// checkpoint in batches and hands each batch to the handler.
func (p *Poller) cycle(ctx context.Context, conn *Conn, h Handler, first bool) error {
	mb := conn.Mailbox
	p.mu.Lock()
	pending, pendingUV := p.pending, p.pendingUV
	p.mu.Unlock()
	if len(pending) > 0 {
		if pendingUV == mb.UIDValidity {
			if err := conn.ApplyMarks(pending); err != nil {
				return fmt.Errorf("apply leftover marks: %w", err)
			}
			p.log.Info("imap leftover marks applied", "count", len(pending))
		}
		p.setPending(nil, 0)
	}

	if s, ok := h.(Starter); ok && first {
		if err := p.ensureStarted(conn, s); err != nil {
			return err
		}
	}

	mt, tracks := h.(MarkTracker)
	if tracks && (p.remark.Swap(false) || first) {
		left, err := mt.Unmarked(mb.Name, mb.UIDValidity)
		if err != nil {
			return fmt.Errorf("handler unmarked %s/%d: %w", mb.Name, mb.UIDValidity, err)
		}
		if len(left) > 0 {
			if err := conn.ApplyMarks(left); err != nil {
				return fmt.Errorf("apply unmarked: %w", err)
			}
			p.log.Info("imap marks of an earlier run applied", "count", len(left))
			mt.Marked(mb.Name, mb.UIDValidity, markUIDs(left))
		}
	}

	cp, err := h.Checkpoint(mb.Name, mb.UIDValidity)
	if err != nil {
		return fmt.Errorf("handler checkpoint %s/%d: %w", mb.Name, mb.UIDValidity, err)
	}
	p.mu.Lock()
	if p.lastUV == mb.UIDValidity && p.lastUID > cp {
		cp = p.lastUID // never hand out again what the handler accepted in this run
	} else if p.lastUV != 0 && p.lastUV != mb.UIDValidity {
		p.log.Warn("imap UIDVALIDITY changed: refetching the mailbox", "folder", mb.Name, "old", p.lastUV, "new", mb.UIDValidity)
	}
	p.mu.Unlock()

	uids, err := conn.SearchNew(cp)
	if err != nil {
		return err
	}
	now := p.cfg.Now()
	p.update(func(s *Stats) { s.LastPoll = now })
	if len(uids) > 0 {
		p.log.Info("imap new messages", "folder", mb.Name, "count", len(uids), "after_uid", cp)
	}

	// The next batch is fetched while the handler works on this one (the
	// connection is idle then): one FETCH in flight at most, never alongside
	// another command; the marks of a batch wait for it. Every path out of
	// the loop waits for it and drops what it spooled.
	var next chan prefetched // FETCH in flight
	var ready *prefetched    // its result, for the next iteration
	discard := func() {
		if next != nil {
			r := <-next
			next, ready = nil, &r
		}
		if ready != nil {
			for _, f := range ready.batch {
				removeSpool(f.Path)
			}
			ready = nil
		}
	}
	defer discard()
	// A batch is up to BatchSize UIDs, cut shorter by BatchBytes: start moves
	// on by as many UIDs as the batch covered.
	for start := 0; start < len(uids); {
		if ctx.Err() != nil {
			return nil
		}
		chunk := uids[start:min(start+p.cfg.BatchSize, len(uids))]
		var (
			batch   []Fetched
			covered int
		)
		if ready != nil {
			batch, covered, err = ready.batch, ready.covered, ready.err
			ready = nil
		} else {
			batch, covered, err = conn.FetchBatch(chunk, p.cfg.BatchBytes)
		}
		if err != nil {
			return err
		}
		covered = max(covered, 1) // never loop on the same UID
		p.log.Info("imap batch fetched", "count", len(batch), "first_uid", chunk[0], "last_uid", chunk[covered-1])
		start += covered
		if len(batch) == 0 {
			continue
		}
		if start < len(uids) {
			nextChunk := uids[start:min(start+p.cfg.BatchSize, len(uids))]
			next = make(chan prefetched, 1)
			go func() {
				b, n, err := conn.FetchBatch(nextChunk, p.cfg.BatchBytes)
				conn.raw.arm(false) // no traffic until the handler is done
				next <- prefetched{b, n, err}
			}()
		} else {
			conn.raw.arm(false) // no traffic while the handler works
		}
		marks, err := h.Handle(ctx, mb, batch)
		if next != nil {
			r := <-next
			next, ready = nil, &r
		}
		conn.raw.arm(true)
		if err != nil {
			for _, f := range batch {
				removeSpool(f.Path)
			}
			return errHandle{err} // the deferred discard drops the next batch: fetched again
		}
		last := batch[len(batch)-1].UID
		p.mu.Lock()
		p.lastUV, p.lastUID = mb.UIDValidity, last
		p.stats.LastUID = last
		p.stats.Delivered += int64(len(batch))
		p.mu.Unlock()

		p.setPending(marks, mb.UIDValidity)
		if err := conn.ApplyMarks(marks); err != nil {
			if ready != nil && ready.err != nil {
				// The connection broke during the FETCH ahead: that is the cause.
				return fmt.Errorf("%w; then apply marks: %v", ready.err, err) // marks kept pending
			}
			return fmt.Errorf("apply marks: %w", err) // kept pending for the next session
		}
		p.setPending(nil, 0)
		if tracks {
			mt.Marked(mb.Name, mb.UIDValidity, markUIDs(marks))
		}
	}
	return nil
}

// prefetched is the result of fetching the next batch in the background.
type prefetched struct {
	batch   []Fetched
	covered int // UIDs of its chunk the batch covered
	err     error
}

func markUIDs(marks []Mark) []uint32 {
	uids := make([]uint32, 0, len(marks))
	for _, m := range marks {
		if m.UID != 0 {
			uids = append(uids, m.UID)
		}
	}
	return uids
}

func (p *Poller) setPending(marks []Mark, uv uint32) {
	p.mu.Lock()
	p.pending, p.pendingUV = marks, uv
	p.mu.Unlock()
}

// waitForMail returns when new mail may have arrived: IDLE when configured
// and offered, else after PollInterval.
func (p *Poller) waitForMail(ctx context.Context, conn *Conn) error {
	if p.cfg.Idle && conn.Client.Caps().Has(imap.CapIdle) {
		return p.idleWait(ctx, conn)
	}
	return p.pollWait(ctx, conn, p.cfg.PollInterval, true)
}

// idleWait idles until an EXISTS arrives. IDLE is stopped every
// WatchdogInterval (and at least every IdleRestart) for a NOOP that must be
// answered within WatchdogInterval: a half-open connection fails here.
func (p *Poller) idleWait(ctx context.Context, conn *Conn) error {
	w := p.cfg.WatchdogInterval
	restartAt := time.Now().Add(p.cfg.IdleRestart)
	for {
		idle, err := conn.Client.Idle()
		if err != nil {
			return fmt.Errorf("idle: %w", err)
		}
		gap := min(w, max(time.Until(restartAt), time.Millisecond))
		t := time.NewTimer(gap)
		var woke, closed bool
		select {
		case <-ctx.Done():
		case <-p.wake:
			woke = true
		case <-conn.Client.Closed():
			closed = true
		case <-t.C:
		}
		t.Stop()
		if closed {
			idle.Close()
			return errors.New("idle: connection closed by server")
		}
		if err := conn.wait(w, "idle done", func() error {
			if err := idle.Close(); err != nil {
				return err
			}
			return idle.Wait()
		}); err != nil {
			return err
		}
		if ctx.Err() != nil || woke {
			return nil
		}
		if time.Now().After(restartAt) {
			restartAt = time.Now().Add(p.cfg.IdleRestart)
			p.log.Debug("imap idle restarted")
		}
		if err := conn.Noop(w); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
		select {
		case <-p.wake: // the NOOP (or DONE) answer carried an EXISTS
			return nil
		default:
		}
	}
}

// pollWait waits d, sending a NOOP every WatchdogInterval (keepalive and
// half-open detection). With wakeEarly, an EXISTS seen meanwhile ends it.
func (p *Poller) pollWait(ctx context.Context, conn *Conn, d time.Duration, wakeEarly bool) error {
	var wake <-chan struct{}
	if wakeEarly {
		wake = p.wake
	}
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		t := time.NewTimer(min(left, p.cfg.WatchdogInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
			t.Stop()
			return nil
		case <-conn.Client.Closed():
			t.Stop()
			return errors.New("connection closed by server")
		case <-t.C:
		}
		if err := conn.Noop(p.cfg.WatchdogInterval); err != nil {
			return fmt.Errorf("watchdog: %w", err)
		}
	}
}
