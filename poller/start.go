package poller

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
)

// Start modes of StartAt (config key imap.start_at, flag --start-at).
const (
	StartNow  = "now"  // only mail arriving from now on: the checkpoint is UIDNEXT-1
	StartAll  = "all"  // the whole mailbox (messages tagged $SupportdProcessed are still never answered)
	StartDate = "date" // the messages with INTERNALDATE on or after StartAt.Since, and everything arriving later
)

// StartAt is the operator's choice of where reading begins in a mailbox the
// handler has never read (no checkpoint). Without a choice (zero StartAt) the
// poller starts only on an empty mailbox and otherwise stops with
// ErrStartAtRequired: a new store must not answer years of old mail.
type StartAt struct {
	Mode  string    // "", StartNow, StartAll or StartDate
	Since time.Time // StartDate: the first instant whose mail is handled
}

// ParseStartAt reads "now", "all", a date YYYY-MM-DD (midnight in loc) or an
// RFC 3339 time; "" is no choice.
func ParseStartAt(s string, loc *time.Location) (StartAt, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "":
		return StartAt{}, nil
	case StartNow, StartAll:
		return StartAt{Mode: strings.ToLower(s)}, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return StartAt{Mode: StartDate, Since: t}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return StartAt{Mode: StartDate, Since: t}, nil
	}
	return StartAt{}, fmt.Errorf("%q is not now, all, a date (2006-01-02) or an RFC 3339 time", s)
}

// String is the choice as the operator writes it.
func (s StartAt) String() string {
	if s.Mode == StartDate {
		return s.Since.Format(time.RFC3339)
	}
	return s.Mode
}

// ErrStartAtRequired: the mailbox holds mail, the handler has never read it
// and no StartAt was chosen. Run returns it (no retry).
var ErrStartAtRequired = errors.New("no start point chosen for a mailbox that already holds mail")

// Start is where reading a mailbox began, as recorded by a Starter.
type Start struct {
	Choice      string    // "empty" (nothing to choose), or StartAt.String()
	Since       time.Time // StartDate only
	UIDValidity uint32
	UIDNext     uint32 // UIDNEXT when reading began: messages below it existed then
	Exists      uint32 // messages in the mailbox then
	Checkpoint  uint32 // messages up to this UID are never handed out
	At          time.Time
}

// Starter is implemented by a Handler that keeps where it began reading a
// mailbox. At the start of every session the poller asks Started; when the
// mailbox was never read it applies Config.StartAt and records the result
// with Start before asking for the Checkpoint.
type Starter interface {
	// Started reports whether mailbox has a start point or a checkpoint
	// (under any UIDVALIDITY).
	Started(mailbox string) (bool, error)
	// Start records the start point and sets the checkpoint to st.Checkpoint.
	Start(mailbox string, st Start) error
}

// ValidityStarter is a Starter whose mailbox counts as never read when its
// UIDVALIDITY changed: reading starts afresh where Config.StartAt says instead
// of reading the whole mailbox again (a Sent folder: its old messages are
// history). The poller asks StartedUnder instead of Started.
type ValidityStarter interface {
	Starter
	// StartedUnder reports whether mailbox has a start point or a
	// checkpoint under uidValidity.
	StartedUnder(mailbox string, uidValidity uint32) (bool, error)
}

// startPoint works out where reading mb begins under choice.
func (c *Conn) startPoint(choice StartAt, now time.Time) (Start, error) {
	mb := c.Mailbox
	st := Start{Choice: choice.String(), Since: choice.Since, UIDValidity: mb.UIDValidity, UIDNext: mb.UIDNext, Exists: mb.Exists, At: now}
	if mb.Exists == 0 {
		// Nothing to answer: any choice (or none) starts at the beginning.
		if st.Choice == "" {
			st.Choice = "empty"
		}
		return st, nil
	}
	if st.UIDNext == 0 { // the server sent no UIDNEXT: the highest UID + 1
		uids, err := c.SearchNew(0)
		if err != nil {
			return st, err
		}
		if len(uids) > 0 {
			st.UIDNext = uids[len(uids)-1] + 1
		}
	}
	switch choice.Mode {
	case "":
		return st, fmt.Errorf("%w: mailbox %s has %d messages (UIDNEXT %d); choose with --start-at now|all|DATE or imap.start_at: "+
			"now answers only mail arriving from now on, all answers every message not tagged $SupportdProcessed, "+
			"DATE (2006-01-02) answers the messages received on or after that date",
			ErrStartAtRequired, mb.Name, mb.Exists, st.UIDNext)
	case StartNow:
		st.Checkpoint = max(st.UIDNext, 1) - 1
	case StartAll:
		st.Checkpoint = 0
	case StartDate:
		// SEARCH SINCE compares dates in the server's time zone, ignoring the
		// time: ask from the day before, the handler compares INTERNALDATE
		// exactly (Start.Since) for the messages below UIDNEXT.
		crit := &imap.SearchCriteria{Since: choice.Since.Add(-24 * time.Hour)}
		data, err := c.Client.UIDSearch(crit, nil).Wait()
		if err != nil {
			return st, fmt.Errorf("uid search since %s: %w", crit.Since.Format(time.DateOnly), err)
		}
		st.Checkpoint = max(st.UIDNext, 1) - 1
		if all, ok := data.All.(imap.UIDSet); ok {
			if nums, ok := all.Nums(); ok {
				for _, u := range nums {
					st.Checkpoint = min(st.Checkpoint, uint32(u)-1)
				}
			}
		}
	default:
		return st, fmt.Errorf("imap.start_at: unknown mode %q", choice.Mode)
	}
	return st, nil
}

// ensureStarted records a start point for a mailbox the handler never read.
func (p *Poller) ensureStarted(conn *Conn, s Starter) error {
	mb := conn.Mailbox
	var ok bool
	var err error
	if vs, is := s.(ValidityStarter); is {
		ok, err = vs.StartedUnder(mb.Name, mb.UIDValidity)
	} else {
		ok, err = s.Started(mb.Name)
	}
	if err != nil {
		return fmt.Errorf("handler started %s: %w", mb.Name, err)
	}
	if ok {
		return nil
	}
	st, err := conn.startPoint(p.cfg.StartAt, p.cfg.Now())
	if err != nil {
		return err
	}
	if err := s.Start(mb.Name, st); err != nil {
		return fmt.Errorf("handler start %s: %w", mb.Name, err)
	}
	p.log.Warn("imap mailbox read for the first time: start point recorded", "folder", mb.Name, "start_at", st.Choice,
		"uidvalidity", st.UIDValidity, "uidnext", st.UIDNext, "exists", st.Exists, "checkpoint", st.Checkpoint)
	return nil
}
