package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"supportd/mailer"
	"supportd/mailparse"
	"supportd/poller"
	"supportd/store"
	"supportd/triage"
)

// Config of the daemon beyond the Engine.
type Config struct {
	// Mailbox is the folder New's poller reads, of Account (a name of
	// accounts:, "" for the top-level imap/smtp sections); AddAccount and
	// AddInbox add further accounts and folders.
	Mailbox string
	Account string
	// AccountKey prefixes that account's configuration keys in messages
	// ("accounts[0]."; "" for the top-level sections).
	AccountKey string
	// Parser reads each message (nil: mailparse's defaults).
	Parser           *mailparse.Parser
	MaxAttempts      int    // a message failing this often is quarantined (default 3)
	QuarantineFolder string // "" = tag only
	StaffQueue       string
	// EscalationAddress receives SLA warnings and breach notices ("" = StaffQueue).
	EscalationAddress string
	// Now is the clock (tests inject one). Receipt times come from INTERNALDATE.
	Now func() time.Time
	// OutboxBatch is how many outbox entries go out per SMTP round (default 100),
	// OutboxBatchBytes how many bytes of messages at most (default 8 MiB; the
	// first entry always goes).
	OutboxBatch      int
	OutboxBatchBytes int64
	// RetryBackoff is the wait before retry number n of a temporary SMTP failure
	// (default mailer.Backoff).
	RetryBackoff func(n int) time.Duration
	// DrainTimeout bounds the final outbox flush on shutdown (default 10s).
	DrainTimeout time.Duration
	// RawRetention is how long raw .eml audit copies are kept (store.raw_retention);
	// 0 keeps none.
	RawRetention time.Duration
	// StaffCopyMaxBytes: a message larger than this is forwarded to staff with
	// only its header block and a note instead of the whole original, so one
	// large message does not cost several times its size in memory and in the
	// outbox (staff read it in the mailbox, where it is tagged). Default 2 MiB;
	// negative: always attach the whole original.
	StaffCopyMaxBytes int64
	// Notify sends a state to the service manager (sd_notify: READY=1,
	// WATCHDOG=1, STOPPING=1); nil sends nothing. WatchdogInterval is how often
	// Run pings WATCHDOG=1 while the working loops show progress (0: never);
	// StallAfter how long a loop may show none before the pings stop
	// (default DefaultStallAfter). See watchdog.go.
	Notify           func(state string)
	WatchdogInterval time.Duration
	StallAfter       time.Duration
	// SentRecheck is how often the server is asked again for a folder marked
	// \Sent when it lists none (imap.sent_mailbox; default 10m).
	SentRecheck time.Duration
	// TicketMetricsInterval is how often supportd_tickets is recounted from
	// the store (default a minute; the count reads every ticket).
	TicketMetricsInterval time.Duration
	// RelayMaxAttachmentBytes bounds the attachments of one relayed staff
	// reply (default DefaultRelayMaxAttachmentBytes).
	RelayMaxAttachmentBytes int64
	// ReplyNameFromStaff (support.reply_name_from_staff) puts the staff
	// member's name in the From display name of a relayed reply (relayFrom).
	ReplyNameFromStaff bool
	// TestHook, when set, is called with each parsed message before it is decided,
	// from the goroutines that parse a batch in parallel; fault tests use it to
	// make a handler panic. Never set in production.
	TestHook func(*mailparse.Message)
}

// Daemon is `supportd run`: it implements poller.Handler, owns the outbox loop and
// commits every decision, ticket change and outbox entry in one transaction per
// fetched batch, before anything is sent or marked.
type Daemon struct {
	cfg    Config
	engine *Engine
	db     *store.DB
	log    *slog.Logger

	// accounts by name, accountList in order (the first is New's);
	// inboxes are the folders read, each by its own poller (accounts.go);
	// sent the Sent folders watched (sent.go).
	accounts    map[string]*Account
	accountList []*Account
	inboxes     []*inbox
	byKey       map[string]*inbox
	sent        []sentFolder
	metrics     *Metrics
	// accepted is the outbox's acceptance log (store.AcceptLog), open while
	// Run runs; nil when it could not be opened (each acceptance then waits
	// for its commit).
	accepted *store.AcceptLog

	kick    chan struct{} // wakes the outbox loop after a commit
	slaKick chan struct{} // wakes the SLA loop after a commit (a due time may have moved)
	// batchObs are the first responses the batch in its transaction recorded,
	// observed in the metrics once it commits (Handle's goroutine only).
	batchObs []firstResponse

	live liveness // progress of the working loops, for the watchdog

	ticketClasses map[store.TicketClass]int // the supportd_tickets series set (refreshTicketMetrics)

	markedMu sync.Mutex
	marked   []markedUID // marks the server stored, not yet recorded in the ledger
}

// New wires a daemon reading cfg.Mailbox of cfg.Account with p and sending
// through m (further accounts and folders: AddAccount, AddInbox). The caller
// owns db, the pollers and the mailers and closes them after Run returns.
func New(cfg Config, e *Engine, db *store.DB, p *poller.Poller, m *mailer.Mailer, log *slog.Logger, metrics *Metrics) *Daemon {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OutboxBatchBytes <= 0 {
		cfg.OutboxBatchBytes = 8 << 20
	}
	if cfg.OutboxBatch <= 0 {
		cfg.OutboxBatch = 100
	}
	if cfg.RetryBackoff == nil {
		cfg.RetryBackoff = mailer.Backoff
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.StaffCopyMaxBytes == 0 {
		cfg.StaffCopyMaxBytes = DefaultStaffCopyMaxBytes
	}
	if cfg.Mailbox == "" {
		cfg.Mailbox = "INBOX"
	}
	if cfg.SentRecheck <= 0 {
		cfg.SentRecheck = 10 * time.Minute
	}
	if cfg.TicketMetricsInterval <= 0 {
		cfg.TicketMetricsInterval = time.Minute
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.Parser == nil {
		cfg.Parser = mailparse.Default()
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	d := &Daemon{cfg: cfg, engine: e, db: db, log: log, metrics: metrics, kick: make(chan struct{}, 1), slaKick: make(chan struct{}, 1),
		accounts: map[string]*Account{}}
	d.live.base = time.Now()
	a := Account{Name: cfg.Account, Mailer: m, ConfigKey: cfg.AccountKey}
	if e != nil {
		a.FromName, a.FromAddr, a.Addresses = e.FromName, e.FromAddr, e.Triage.OwnAddresses
	}
	d.AddAccount(a)
	if p != nil {
		_ = d.AddInbox(cfg.Account, cfg.Mailbox, p)
	}
	metrics.WatchKeywordsDropped(func() float64 {
		var n int64
		for _, in := range d.inboxes {
			n += in.poll.Stats().KeywordsDropped
		}
		return float64(n)
	})
	return d
}

// Run processes mail until ctx is cancelled, then stops fetching and flushes what
// the outbox can within DrainTimeout. The poller and the outbox loop are owned by
// Run and stopped before it returns.
func (d *Daemon) Run(ctx context.Context) error {
	d.openAcceptLog()
	defer d.closeAcceptLog()
	d.refreshOutboxMetrics()
	d.refreshTicketMetrics()
	// The poller stops on its own only for an error no retry can fix (no
	// --start-at chosen): then everything stops.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	// Each inbox runs on its own: a server that is down or refuses the login
	// is retried by that poller with its own backoff, the others go on.
	pollErr := make(chan error, len(d.inboxes))
	var polling sync.WaitGroup
	for _, in := range d.inboxes {
		polling.Go(func() {
			err := in.poll.Run(ctx, in)
			if err != nil {
				err = fmt.Errorf("account %s, mailbox %s: %w", in.acct.display(), in.folder, err)
				stop(err)
			}
			pollErr <- err
		})
	}
	wg.Add(1)
	outCtx, stopOut := context.WithCancel(context.Background())
	outDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(outDone)
		d.outboxLoop(ctx, outCtx)
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.watchHealth(ctx)
	}()
	go func() {
		defer wg.Done()
		d.slaLoop(ctx)
	}()
	for _, s := range d.sent {
		wg.Go(func() { d.runSent(ctx, s) })
	}
	d.superviseUntil(ctx)
	d.notify("STOPPING=1")
	// Phase two: intake stops; the outbox round in flight is not cut in the middle
	// of an SMTP transaction (that would risk a duplicate and push its entries a
	// whole retry backoff into the future) but finishes, then the drain sends
	// what is still due — both within DrainTimeout. The drain starts only after
	// the loop stopped, so no entry is sent by both.
	drainCtx, cancel := context.WithTimeout(context.Background(), d.cfg.DrainTimeout)
	stopAtDeadline := context.AfterFunc(drainCtx, stopOut)
	polling.Wait()
	close(pollErr)
	var err error
	for e := range pollErr {
		if err == nil && e != nil {
			err = e
		}
	}
	<-outDone
	d.drainOutbox(drainCtx)
	stopAtDeadline()
	cancel()
	stopOut()
	wg.Wait()
	d.flushMarked()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Checkpoint implements poller.Handler: the last UID handled under uidValidity, 0
// when the mailbox is new to us or its UIDVALIDITY changed (then the Message-ID
// ledger prevents reprocessing).
func (d *Daemon) Checkpoint(mailbox string, uidValidity uint32) (uint32, error) {
	var last uint32
	err := d.db.View(func(tx *store.Tx) error {
		uv, uid, err := tx.Checkpoint(mailbox)
		if err != nil {
			return err
		}
		if uv == uidValidity {
			last = uid
		} else if uv != 0 {
			d.log.Warn("UIDVALIDITY changed: refetching the mailbox, the Message-ID ledger prevents reprocessing",
				"mailbox", mailbox, "old_uidvalidity", uv, "new_uidvalidity", uidValidity)
		}
		return nil
	})
	return last, err
}

// outcome is what one fetched message turned into within the batch transaction.
type outcome struct {
	f        poller.Fetched
	mark     poller.Mark
	ticket   string
	action   string
	status   string
	received time.Time
	// messageID of the incoming message, for the log ("" when it has none).
	messageID string
	err       error // processing failed: not committed, attempt recorded
}

// Handle implements poller.Handler: parse every message of the batch (outside the
// transaction), then decide and commit the whole batch in one store transaction,
// then hand back the IMAP marks. Nothing is sent or marked before the commit.
func (d *Daemon) Handle(ctx context.Context, mb poller.Mailbox, batch []poller.Fetched) ([]poller.Mark, error) {
	defer d.enterBatch()()
	start := d.cfg.Now()
	oldest := batch[0].InternalDate
	for _, f := range batch {
		if f.InternalDate.Before(oldest) {
			oldest = f.InternalDate
		}
	}
	acct := d.senderOf(mb.Name)
	log := d.log.With("account", acct.display(), "mailbox", mb.Name)
	d.metrics.Unprocessed.Set(start.Sub(oldest).Seconds())
	defer d.metrics.Unprocessed.Set(0)
	parsed := d.parseAhead(batch)
	// The spool files go once the batch is decided: while its commit is
	// written to disk when nothing needs them afterwards (no raw audit copy),
	// else after it; on every path before Handle returns.
	removing := make(chan struct{})
	removeStarted := false
	removeSpool := func() {
		removeStarted = true
		go func() {
			defer close(removing)
			for _, f := range batch {
				if f.Path != "" {
					os.Remove(f.Path)
				}
			}
		}()
	}
	defer func() {
		if !removeStarted {
			removeSpool()
		}
		<-removing
	}()

	defer parsed.wait() // runs first: no worker still reads a spool file
	marked := d.takeMarked()
	var outs []outcome
	// A backup's snapshot sees a batch with its raw copies or not at all.
	releaseRaw := d.db.HoldRawCommit()
	err := d.db.Update(func(tx *store.Tx) error {
		if err := recordMarked(tx, marked); err != nil {
			return err
		}
		outs, d.batchObs = outs[:0], d.batchObs[:0]
		for i, f := range batch {
			o := d.processOne(tx, mb, f, parsed.get(i))
			outs = append(outs, o)
		}
		uv, cur, err := tx.Checkpoint(mb.Name)
		if err != nil {
			return err
		}
		if cp := checkpointAfter(outs); uv != mb.UIDValidity || cp > cur {
			if err := tx.SetCheckpoint(mb.Name, mb.UIDValidity, cp); err != nil {
				return err
			}
		}
		if d.cfg.RawRetention <= 0 {
			removeSpool() // overlaps the commit's fsync
		}
		return nil
	})
	if err != nil {
		releaseRaw()
		d.restoreMarked(marked)
		d.metrics.StoreErrors.Inc()
		return nil, fmt.Errorf("commit batch of %d (uids %d-%d): %w", len(batch), batch[0].UID, batch[len(batch)-1].UID, err)
	}
	d.keepRaw(mb, outs)
	releaseRaw()
	marks := make([]poller.Mark, 0, len(outs))
	for _, o := range outs {
		marks = append(marks, o.mark)
		if o.action != "" {
			d.metrics.Messages.WithLabelValues(o.action, o.status, mailboxLabel(mb.Name)).Inc()
			d.metrics.Latency.Observe(d.cfg.Now().Sub(o.received).Seconds())
		}
		if o.err != nil {
			log.Warn("message not processed; will retry", "uid", o.f.UID, "message_id", o.messageID, "err", o.err)
			continue
		}
		log.Info("message processed", "uid", o.f.UID, "message_id", o.messageID, "ticket", o.ticket, "action", o.action, "status", o.status)
	}
	d.metrics.BatchSeconds.Observe(d.cfg.Now().Sub(start).Seconds())
	for _, o := range d.batchObs {
		d.metrics.FirstResponse.WithLabelValues(o.status).Observe(o.after.Seconds())
	}
	d.wakeOutbox()
	d.wakeSLA()
	for _, o := range outs {
		if o.err != nil {
			// The rest of the batch is committed; fetching it again re-applies their
			// marks from the ledger and retries this one (quarantined after
			// MaxAttempts).
			return nil, fmt.Errorf("uid %d: %w (attempt recorded; will retry)", o.f.UID, o.err)
		}
	}
	return marks, nil
}

// Unmarked implements poller.MarkTracker: the marks of committed messages the
// server may not have stored yet (a crash between commit and STORE/MOVE).
func (d *Daemon) Unmarked(mailbox string, uidValidity uint32) ([]poller.Mark, error) {
	var marks []poller.Mark
	err := d.db.View(func(tx *store.Tx) error {
		es, err := tx.Unmarked(mailbox)
		for _, e := range es {
			if e.UIDValidity == uidValidity && (len(e.Keywords) > 0 || e.MoveTo != "") {
				marks = append(marks, poller.Mark{UID: e.UID, Keywords: e.Keywords, MoveTo: e.MoveTo})
			}
		}
		return err
	})
	return marks, err
}

// Marked implements poller.MarkTracker. The "marked" flags are written with the
// next batch's transaction (and at shutdown), not in a commit of their own: losing
// them in a crash only means the marks are applied once more, which is harmless.
func (d *Daemon) Marked(mailbox string, uidValidity uint32, uids []uint32) {
	d.markedMu.Lock()
	for _, u := range uids {
		d.marked = append(d.marked, markedUID{mailbox, uidValidity, u})
	}
	d.markedMu.Unlock()
}

type firstResponse struct {
	status string
	after  time.Duration
}

type markedUID struct {
	mailbox string
	uv, uid uint32
}

func (d *Daemon) takeMarked() []markedUID {
	d.markedMu.Lock()
	defer d.markedMu.Unlock()
	m := d.marked
	d.marked = nil
	return m
}

func (d *Daemon) restoreMarked(m []markedUID) {
	d.markedMu.Lock()
	d.marked = append(m, d.marked...)
	d.markedMu.Unlock()
}

func recordMarked(tx *store.Tx, marked []markedUID) error {
	for _, m := range marked {
		e, err := tx.SeenUID(m.mailbox, m.uv, m.uid)
		if err != nil {
			return err
		}
		if e == nil || e.Marked {
			continue
		}
		e.Marked = true
		if err := tx.PutLedger(e); err != nil {
			return err
		}
	}
	return nil
}

// flushMarked writes pending "marked" flags (at shutdown).
func (d *Daemon) flushMarked() {
	marked := d.takeMarked()
	if len(marked) == 0 {
		return
	}
	if err := d.db.Update(func(tx *store.Tx) error { return recordMarked(tx, marked) }); err != nil {
		d.log.Warn("could not record applied marks; they will be applied again at the next start", "count", len(marked), "err", err)
	}
}

type parsedMsg struct {
	msg         *mailparse.Message
	hash        string
	fingerprint string   // of the content that makes a message itself (dedup.go)
	reported    []string // Message-IDs quoted by a delivery report (ReportedIDs)
	panicked    string   // non-empty when parsing panicked (a bug; the message is quarantined)
	readErr     error
}

// parsing is a batch being parsed on up to GOMAXPROCS goroutines, in UID
// order (the messages are independent): the batch transaction takes message
// i as soon as it is parsed while the workers go on with the rest, so parsing
// and deciding overlap on the poller's path.
type parsing struct {
	msgs  []*parsedMsg
	ready []chan struct{} // closed once msgs[i] is set
	wg    sync.WaitGroup
}

func (d *Daemon) parseAhead(batch []poller.Fetched) *parsing {
	p := &parsing{msgs: make([]*parsedMsg, len(batch)), ready: make([]chan struct{}, len(batch))}
	for i := range p.ready {
		p.ready[i] = make(chan struct{})
	}
	var next atomic.Int64
	for range min(runtime.GOMAXPROCS(0), maxParseWorkers, len(batch)) {
		p.wg.Go(func() {
			buf := make([]byte, 32<<10) // parseOne's copy buffer
			for i := int(next.Add(1)) - 1; i < len(batch); i = int(next.Add(1)) - 1 {
				p.msgs[i] = d.parseOne(batch[i], buf)
				close(p.ready[i])
			}
		})
	}
	return p
}

// get waits for message i.
func (p *parsing) get(i int) *parsedMsg {
	<-p.ready[i]
	return p.msgs[i]
}

// wait waits for the workers to end (before the spool files go).
func (p *parsing) wait() { p.wg.Wait() }

// maxParseWorkers bounds parseAhead's goroutines.
const maxParseWorkers = 4

// parseOne parses a spooled message, never letting a panic escape; buf is
// its copy buffer.
func (d *Daemon) parseOne(f poller.Fetched, buf []byte) (p *parsedMsg) {
	p = &parsedMsg{}
	if f.TooLarge || f.Path == "" {
		return p
	}
	defer func() {
		if r := recover(); r != nil {
			p.panicked = fmt.Sprintf("%v", r)
			d.log.Error("parser panicked: message will be quarantined", "uid", f.UID, "panic", p.panicked, "stack", string(debug.Stack()))
		}
	}()
	file, err := os.OpenFile(f.Path, os.O_RDONLY|syscall.O_NOFOLLOW, 0) // the spool file, never a link in its place
	if err != nil {
		p.readErr = err
		return p
	}
	defer file.Close()
	h := sha256.New()
	msg, err := d.cfg.Parser.Parse(io.TeeReader(file, h))
	if err == nil {
		_, err = io.CopyBuffer(h, struct{ io.Reader }{file}, buf) // not os.File's WriteTo: it allocates 32 KiB
	}
	p.msg, p.hash, p.readErr = msg, hex.EncodeToString(h.Sum(nil)), err
	if msg != nil {
		p.fingerprint = fingerprint(msg)
	}
	if err == nil && msg != nil && triage.IsReport(msg) {
		if _, err := file.Seek(0, io.SeekStart); err == nil {
			p.reported = ReportedIDs(file)
		}
	}
	if d.cfg.TestHook != nil && msg != nil {
		d.cfg.TestHook(msg)
	}
	return p
}

// processOne decides one message inside the batch transaction and writes its
// ledger entry, ticket, outbox entries and counters.
func (d *Daemon) processOne(tx *store.Tx, mb poller.Mailbox, f poller.Fetched, p *parsedMsg) (o outcome) {
	o = outcome{f: f, received: f.InternalDate}
	if p.msg != nil {
		o.messageID = p.msg.MessageID
	}
	o.mark.UID = f.UID
	now := d.cfg.Now()

	// Already handled under this UIDVALIDITY (a crash after commit, before marks):
	// re-apply the marks, nothing else. An entry that only counts failed
	// attempts is not done: the message is tried again (quarantined after
	// MaxAttempts).
	if e, err := tx.SeenUID(mb.Name, mb.UIDValidity, f.UID); err == nil && e != nil && e.Done() {
		o.mark.Keywords, o.mark.MoveTo = e.Keywords, e.MoveTo
		return o
	}
	// Answered by an earlier store or instance ($SupportdProcessed), or older
	// than the --start-at date: recorded, never answered. A duplicate of a
	// message in this store takes the duplicate path below (its marks).
	if reason := skipReason(tx, mb, f); reason != "" && (p.msg == nil || !isDuplicate(tx, p.msg.MessageID, p.hash, p.fingerprint)) {
		return d.skip(tx, mb, f, p, reason, now)
	}
	if f.TooLarge {
		return d.quarantine(tx, mb, f, p, "too_large: "+strconv.FormatInt(f.Size, 10)+" bytes", now)
	}
	if p.readErr != nil || p.panicked != "" || p.msg == nil {
		reason := "unreadable"
		if p.panicked != "" {
			reason = "parser_panic"
		} else if p.readErr != nil {
			reason = "read_error: " + p.readErr.Error()
		}
		n, _ := tx.RecordAttempt(mb.Name, mb.UIDValidity, f.UID)
		if p.panicked != "" || n >= d.cfg.MaxAttempts {
			return d.quarantine(tx, mb, f, p, reason, now)
		}
		o.err = errors.New(reason)
		return o
	}
	msg := p.msg
	// The same message seen before under another UID (UIDVALIDITY change, a second
	// delivery): record and tag it like the first time, no second reply. A
	// Message-ID seen before on other content is a new message (dedup.go).
	e, reused := seenBefore(tx, msg.MessageID, p.hash, p.fingerprint)
	if e != nil {
		dup := *e
		dup.Mailbox, dup.UIDValidity, dup.UID, dup.Processed = mb.Name, mb.UIDValidity, f.UID, now
		dup.Duplicate = true
		if err := tx.PutLedger(&dup); err == nil {
			o.mark.Keywords, o.mark.MoveTo = e.Keywords, e.MoveTo
		}
		o.ticket, o.action, o.status = e.Ticket, DuplicateAction, "unknown"
		if t, err := tx.Ticket(e.Ticket); err == nil && t != nil {
			o.status = string(t.Status)
		}
		return o
	}

	var asm *Assessment
	err := safely(func() error {
		var err error
		asm, err = d.engine.Assess(tx, msg, f.InternalDate, p.hash, tx.NextTicketID, p.reported)
		if asm != nil {
			asm.ReusedMessageID = reused
		}
		return err
	})
	if err != nil {
		n, _ := tx.RecordAttempt(mb.Name, mb.UIDValidity, f.UID)
		d.log.Error("decide failed", "uid", f.UID, "message_id", msg.MessageID, "attempt", n, "err", err)
		if n >= d.cfg.MaxAttempts || isPanic(err) {
			return d.quarantine(tx, mb, f, p, "decide_error: "+err.Error(), now)
		}
		o.err = err
		return o
	}
	dec := asm.Decision
	if err := safely(func() error { return d.record(tx, mb, f, p, asm, now) }); err != nil {
		n, _ := tx.RecordAttempt(mb.Name, mb.UIDValidity, f.UID)
		d.log.Error("record failed", "uid", f.UID, "message_id", msg.MessageID, "ticket", dec.TicketID, "attempt", n, "err", err)
		if n >= d.cfg.MaxAttempts || isPanic(err) {
			return d.quarantine(tx, mb, f, p, "record_error: "+err.Error(), now)
		}
		o.err = err
		return o
	}
	o.ticket, o.action, o.status = dec.TicketID, string(dec.Action), string(asm.Input.Entitlement.Status)
	o.mark.Keywords = append(append([]string{}, dec.Route.Keywords...), ProcessedKeyword)
	if dec.Route.Folder != nil {
		o.mark.MoveTo = *dec.Route.Folder
	}
	return o
}

// DuplicateAction is logged and counted for a message handled before under
// another UID (the same Message-ID or bytes): marked like the first, no reply.
const DuplicateAction = "duplicate"

// ProcessedKeyword marks a message supportd has handled (shown by mail clients as a tag).
const ProcessedKeyword = "$SupportdProcessed"

// QuarantinedKeyword tags a message supportd could not process.
const QuarantinedKeyword = "Quarantined"

// DefaultStaffCopyMaxBytes is Config.StaffCopyMaxBytes when zero.
const DefaultStaffCopyMaxBytes = 2 << 20

// maxStaffHeader bounds the header block kept by headerOnly.
const maxStaffHeader = 64 << 10

// headerOnly reads the header block of a message (at most maxStaffHeader
// bytes) and returns it without its MIME fields, as a text/plain message whose
// body is note.
func headerOnly(r io.Reader, note string) (io.Reader, error) {
	buf := make([]byte, maxStaffHeader)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read header: %w", err)
	}
	head := string(buf[:n])
	if i := strings.Index(head, "\n\r\n"); i >= 0 {
		head = head[:i+1]
	} else if i := strings.Index(head, "\n\n"); i >= 0 {
		head = head[:i+1]
	} else if i := strings.LastIndexByte(head, '\n'); i >= 0 {
		head = head[:i+1] // header larger than the bound: whole lines only
	}
	var b strings.Builder
	skip := false
	for _, line := range strings.SplitAfter(head, "\n") {
		if line == "" {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := strings.Cut(line, ":")
			name = strings.ToLower(strings.TrimSpace(name))
			skip = name == "mime-version" || strings.HasPrefix(name, "content-")
		}
		if !skip {
			b.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
		}
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + note + "\r\n")
	return strings.NewReader(b.String()), nil
}

func staffHeaders(a *Assessment, t *store.Ticket) map[string]string {
	dec, ent, m := a.Decision, a.Input.Entitlement, a.Msg
	h := map[string]string{
		"X-Support-Ticket":   dec.TicketID,
		"X-Support-Priority": "P" + strconv.Itoa(ent.Priority),
		"X-Support-Status":   string(ent.Status),
		"X-Support-Action":   string(dec.Action),
		"X-Support-Missing":  strings.Join(dec.Missing, ", "),
		"X-Support-Verified": strconv.FormatBool(ent.VerifiedSender),
	}
	if !a.SLA.Deadline.IsZero() {
		h["X-Support-SLA-Deadline"] = a.SLA.Deadline.Format(time.RFC3339)
	}
	if m.Build != 0 {
		h["X-Support-Build"] = strconv.Itoa(m.Build)
	}
	if a.Input.Version.Known {
		h["X-Support-Major"] = strconv.Itoa(a.Input.Version.Major)
	}
	if m.ServerOS != "" {
		h["X-Support-Server-OS"] = m.ServerOS
	}
	if m.Browser != nil {
		h["X-Support-Browser"] = strings.TrimSpace(m.Browser.Name + " " + m.Browser.Version)
	}
	if dec.SuppressReason != "" {
		h["X-Support-Suppressed"] = dec.SuppressReason
	}
	if dec.NoReplyReason != "" {
		h["X-Support-No-Reply-Reason"] = dec.NoReplyReason
	}
	if ent.Customer != nil {
		h["X-Support-Customer"] = ent.Customer.ID
	}
	if a.ReusedMessageID {
		h["X-Support-Reused-Message-ID"] = "yes"
	}
	if ent.ExtendedSupport {
		h["X-Support-Extended"] = "true"
	}
	if len(ent.Subscriptions) > 0 {
		h["X-Support-Subscriptions"] = strings.Join(ent.Subscriptions, ", ")
	}
	if dec.ReferencedTicket != "" {
		h["X-Support-Referenced-Ticket"] = dec.ReferencedTicket
	}
	if dec.UnverifiedStaff {
		h["X-Support-Unverified-Staff"] = "yes"
	}
	if dec.Bounce {
		h["X-Support-Delivery-Failed"] = "yes"
	}
	if t != nil {
		// The ticket's view: what it still lacks as a whole, when the next
		// response is due (not a fresh deadline per message).
		h["X-Support-State"] = t.State
		h["X-Support-Missing"] = strings.Join(ticketMissing(t.Have), ", ")
		delete(h, "X-Support-SLA-Deadline")
		if due := t.ResponseDue; !due.IsZero() && t.State == store.StateOpen {
			h["X-Support-SLA-Deadline"] = due.Format(time.RFC3339)
		}
	}
	return h
}

// quoteNotes writes parser problems for staff: the problem token as is, the
// detail after it (text the sender controls: a charset name, a file name)
// quoted and cut, never to be read as supportd's own words.
func quoteNotes(problems []string) string {
	notes := make([]string, len(problems))
	for i, p := range problems {
		tok, detail, ok := strings.Cut(p, ": ")
		if strings.Trim(tok, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			tok, detail, ok = "", p, true // not one of mailparse's tokens: all of it quoted
		}
		if !ok {
			notes[i] = tok
			continue
		}
		if r := []rune(detail); len(r) > 80 {
			detail = string(r[:79]) + "…"
		}
		notes[i] = strings.TrimSpace(tok + " " + strconv.QuoteToGraphic(detail))
	}
	return strings.Join(notes, "; ")
}

// quarantine records a message that cannot be processed: it is tagged, moved to the
// quarantine folder, and staff are told; it never blocks the messages behind it.
func (d *Daemon) quarantine(tx *store.Tx, mb poller.Mailbox, f poller.Fetched, p *parsedMsg, reason string, now time.Time) outcome {
	o := outcome{f: f, received: f.InternalDate, action: "quarantine", status: "unknown"}
	acct := d.senderOf(mb.Name)
	d.log.Warn("message quarantined", "account", acct.display(), "mailbox", mb.Name, "uid", f.UID, "reason", reason, "folder", d.cfg.QuarantineFolder)
	d.metrics.Quarantined.WithLabelValues(mailboxLabel(mb.Name)).Inc()
	kws := []string{QuarantinedKeyword, ProcessedKeyword}
	entry := &store.LedgerEntry{Mailbox: mb.Name, UIDValidity: mb.UIDValidity, UID: f.UID, ContentHash: p.hash,
		Action: "quarantine", SuppressReason: reason, Processed: now, Quarantined: true, Keywords: kws, MoveTo: d.cfg.QuarantineFolder}
	if p.msg != nil {
		entry.MessageID = p.msg.MessageID
	}
	if prev, err := tx.SeenUID(mb.Name, mb.UIDValidity, f.UID); err == nil && prev != nil {
		entry.Attempts = prev.Attempts // keep the count of failed attempts that led here
	}
	if err := tx.PutLedger(entry); err != nil {
		d.log.Error("ledger write for quarantined message failed", "uid", f.UID, "err", err)
	}
	if d.cfg.StaffQueue != "" {
		body := fmt.Sprintf("supportd could not process message UID %d of %s (UIDVALIDITY %d), %d bytes, received %s.\nReason: %s\nIt was moved to the folder %q for a person to read.\n",
			f.UID, mb.Name, mb.UIDValidity, f.Size, f.InternalDate.Format(time.RFC3339), reason, d.cfg.QuarantineFolder)
		id := fmt.Sprintf("<quarantine.%d.%d@%s>", mb.UIDValidity, f.UID, domainOf(acct.FromAddr))
		if len(d.inboxes) > 1 { // UIDs of different mailboxes may coincide: the key tells them apart
			h := sha256.Sum256([]byte(mb.Name))
			id = fmt.Sprintf("<quarantine.%x.%d.%d@%s>", h[:6], mb.UIDValidity, f.UID, domainOf(acct.FromAddr))
		}
		data, err := mailer.ComposeReply(mailer.Reply{From: acct.from(), To: []string{d.cfg.StaffQueue},
			Subject: fmt.Sprintf("[Quarantine] message UID %d could not be processed", f.UID), MessageID: id, Date: now, Body: body})
		if err == nil {
			_, err = tx.Enqueue(&store.OutboxEntry{MessageID: id, Kind: store.KindStaff, Account: acct.Name, From: acct.FromAddr, To: []string{d.cfg.StaffQueue},
				Data: data, Created: now, NextAttempt: now})
		}
		if err != nil {
			d.log.Error("staff notice for quarantined message failed", "uid", f.UID, "err", err)
		}
	}
	o.mark = poller.Mark{UID: f.UID, Keywords: kws, MoveTo: d.cfg.QuarantineFolder}
	return o
}

type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }

func isPanic(err error) bool { var p panicError; return errors.As(err, &p) }

// safely runs fn, turning a panic into an error (a bug in the decision code must
// quarantine one message, not stop the inbox).
func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	return fn()
}

// checkpointAfter is the UID up to which the batch is done: just below the first
// message that failed (it and everything after it are fetched again; those already
// in the ledger only get their marks re-applied), else the batch's highest UID.
func checkpointAfter(outs []outcome) uint32 {
	var last uint32
	for _, o := range outs {
		if o.err != nil {
			return min(last, o.f.UID-1)
		}
		last = max(last, o.f.UID)
	}
	return last
}

// keepRaw moves the spooled bytes of every committed message into the store's
// audit directory (when store.raw_retention is set), keyed by mailbox,
// UIDVALIDITY and UID.
func (d *Daemon) keepRaw(mb poller.Mailbox, outs []outcome) {
	if d.cfg.RawRetention <= 0 {
		return
	}
	for _, o := range outs {
		if o.err != nil || o.action == "" || o.f.Path == "" {
			continue
		}
		if err := d.db.AdoptRaw(RawKey(mb.Name, mb.UIDValidity, o.f.UID), o.f.Path); err != nil {
			d.log.Warn("raw audit copy not kept", "uid", o.f.UID, "err", err)
		}
	}
}

// RawKey names the raw audit copy of one IMAP message.
func RawKey(mailbox string, uidValidity, uid uint32) string {
	return fmt.Sprintf("%s/%d/%d", mailbox, uidValidity, uid)
}
