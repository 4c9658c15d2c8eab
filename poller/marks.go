package poller

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Mark is what the handler asks the poller to do with one message.
type Mark struct {
	UID      uint32
	Keywords []string // IMAP keywords to add (e.g. "P1", "ASUP")
	MoveTo   string   // destination folder; "" = stay
}

// ApplyMarks stores the keywords (one UID STORE +FLAGS.SILENT per distinct
// keyword set) and then moves messages (one MOVE per destination folder,
// created when missing). Keywords the mailbox cannot store (PERMANENTFLAGS
// without \*) or that are not valid atoms are skipped with a log line.
//
// A command the server refuses (NO/BAD) is logged and skipped: retrying it
// would fail the same way. Any other error (the connection) is returned.
// On a Config.ReadOnly connection nothing is stored or moved.
func (c *Conn) ApplyMarks(marks []Mark) error {
	if c.cfg.ReadOnly {
		for _, m := range marks {
			if len(m.Keywords) > 0 || m.MoveTo != "" {
				c.log.Warn("imap marks dropped: the mailbox is read-only", "folder", c.Mailbox.Name, "uid", m.UID)
			}
		}
		return nil
	}
	type group struct {
		flags []imap.Flag
		uids  imap.UIDSet
	}
	groups := map[string]*group{}
	moves := map[string]*imap.UIDSet{}
	for _, m := range marks {
		if m.UID == 0 {
			continue
		}
		var flags []imap.Flag
		for _, kw := range m.Keywords {
			switch {
			case !validKeyword(kw):
				c.log.Warn("imap keyword skipped: not a valid atom", "uid", m.UID, "keyword", kw)
			case !c.keywordAllowed(imap.Flag(kw)):
				c.keywordsDropped.Add(1)
				if !c.keywordWarned {
					c.keywordWarned = true
					c.log.Warn("imap mailbox cannot store keywords (PERMANENTFLAGS without \\*: Exchange Online, or no ACL right w): tags such as P1 or $SupportdProcessed are dropped; staff rely on folders (routing.rules) or support.staff_queue",
						"folder", c.Mailbox.Name, "permanentflags", fmt.Sprint(c.Mailbox.PermanentFlags))
				}
				c.log.Debug("imap keyword skipped: not in PERMANENTFLAGS", "uid", m.UID, "keyword", kw)
			default:
				flags = append(flags, imap.Flag(kw))
			}
		}
		if len(flags) > 0 {
			slices.Sort(flags)
			flags = slices.Compact(flags)
			parts := make([]string, len(flags))
			for i, f := range flags {
				parts[i] = string(f)
			}
			key := strings.Join(parts, " ")
			g := groups[key]
			if g == nil {
				g = &group{flags: flags}
				groups[key] = g
			}
			g.uids.AddNum(imap.UID(m.UID))
		}
		if m.MoveTo != "" && m.MoveTo != c.Mailbox.Name {
			s := moves[m.MoveTo]
			if s == nil {
				s = &imap.UIDSet{}
				moves[m.MoveTo] = s
			}
			s.AddNum(imap.UID(m.UID))
		}
	}

	// One UID STORE per keyword set, all sent before the first reply is read:
	// one round trip to the server, not one per set (UID commands may be
	// pipelined, RFC 9051 §5.5).
	keys := sortedKeys(groups)
	stores := make([]*imapclient.FetchCommand, len(keys))
	for i, key := range keys {
		g := groups[key]
		stores[i] = c.Client.Store(g.uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: g.flags}, nil)
	}
	var storeErr error
	for i, key := range keys {
		g := groups[key]
		err := c.refused(stores[i].Close(), "uid store", "uids", g.uids.String(), "keywords", key)
		if err != nil && storeErr == nil {
			storeErr = fmt.Errorf("uid store %v +flags (%s): %w", g.uids, key, err)
		}
		if err == nil {
			c.log.Debug("imap keywords stored", "uids", g.uids.String(), "keywords", key)
		}
	}
	if storeErr != nil {
		return storeErr
	}
	for _, folder := range sortedKeys(moves) {
		uids := *moves[folder]
		if err := c.ensureFolder(folder); err != nil {
			if err := c.refused(err, "create", "folder", folder); err != nil {
				return err
			}
			continue
		}
		if err := c.refused(c.move(uids, folder), "move", "uids", uids.String(), "folder", folder); err != nil {
			return err
		}
		c.log.Info("imap messages moved", "uids", uids.String(), "folder", folder)
	}
	return nil
}

// refused logs and swallows a server refusal (*imap.Error); other errors are
// returned.
func (c *Conn) refused(err error, op string, attrs ...any) error {
	var ie *imap.Error
	if err != nil && errors.As(err, &ie) {
		c.log.Warn("imap "+op+" refused by server", append(attrs, "err", err)...)
		return nil
	}
	return err
}

func (c *Conn) keywordAllowed(kw imap.Flag) bool {
	return c.Mailbox.CanKeywords || slices.Contains(c.Mailbox.PermanentFlags, kw)
}

// ensureFolder creates folder unless it is known to exist (LIST first).
func (c *Conn) ensureFolder(folder string) error {
	if c.folders[folder] {
		return nil
	}
	l, err := c.Client.List("", folder, nil).Collect()
	if err != nil {
		return fmt.Errorf("list %q: %w", folder, err)
	}
	if len(l) == 0 {
		err := c.Client.Create(folder, nil).Wait()
		var ie *imap.Error
		if err != nil && !(errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists) {
			return fmt.Errorf("create %q: %w", folder, err)
		}
		c.log.Info("imap folder created", "folder", folder)
	}
	c.folders[folder] = true
	return nil
}

// move uses MOVE when offered; otherwise COPY, and only once the copy
// succeeded, STORE \Deleted and UID EXPUNGE (UIDPLUS) or EXPUNGE.
// (imapclient's own fallback pipelines the three commands, so a failed COPY
// would still delete the message.)
func (c *Conn) move(uids imap.UIDSet, folder string) error {
	caps := c.Client.Caps()
	if caps.Has(imap.CapMove) {
		if _, err := c.Client.Move(uids, folder).Wait(); err != nil {
			return fmt.Errorf("uid move %v %q: %w", uids, folder, err)
		}
		return nil
	}
	if _, err := c.Client.Copy(uids, folder).Wait(); err != nil {
		return fmt.Errorf("uid copy %v %q: %w", uids, folder, err)
	}
	del := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Client.Store(uids, del, nil).Close(); err != nil {
		return fmt.Errorf("uid store %v +flags \\Deleted: %w", uids, err)
	}
	var err error
	if caps.Has(imap.CapUIDPlus) {
		err = c.Client.UIDExpunge(uids).Close()
	} else {
		err = c.Client.Expunge().Close()
	}
	if err != nil {
		return fmt.Errorf("expunge after copy to %q: %w", folder, err)
	}
	return nil
}

// validKeyword: an IMAP atom (RFC 3501 §9 flag-keyword), no "\" prefix.
func validKeyword(kw string) bool {
	if kw == "" || len(kw) > 128 {
		return false
	}
	for i := 0; i < len(kw); i++ {
		ch := kw[i]
		if ch <= ' ' || ch >= 0x7f || strings.IndexByte(`(){%*"\]`, ch) >= 0 {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
