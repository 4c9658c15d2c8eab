package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"

	"supportd/entitlement"
	"supportd/internal/mailtext"
	"supportd/mailer"
	"supportd/mailparse"
	"supportd/poller"
	"supportd/sla"
	"supportd/store"
	"supportd/templates"
	"supportd/triage"
)

// record writes everything one decided message changes, inside the batch tx:
// the ticket (state, SLA, addresses), the outbox entries (reply, staff copy),
// reply counters and the ledger entry.
func (d *Daemon) record(tx *store.Tx, mb poller.Mailbox, f poller.Fetched, p *parsedMsg, asm *Assessment, now time.Time) error {
	msg, dec := asm.Msg, asm.Decision
	a := d.senderOf(mb.Name) // everything this message causes goes out through its account
	var outs []*store.OutboxEntry
	var t *store.Ticket
	var err error
	if dec.Action == triage.StaffReply {
		t, outs, err = d.staffReply(tx, a, f, p, asm, now)
		if err != nil {
			return err
		}
	} else if dec.TicketID != "" {
		if t, err = tx.Ticket(dec.TicketID); err != nil {
			return fmt.Errorf("ticket %s: %w", dec.TicketID, err)
		}
		if t == nil {
			t = d.newTicket(asm, f.InternalDate)
		}
		d.customerMessage(t, a, asm, f, now)
	}

	// Everything that can fail on the message's content or the configuration
	// (render, compose reply, compose staff copy) happens before the first
	// write: a failed attempt is committed with the rest of the batch, and a
	// reply enqueued by it would go out once per attempt.
	if dec.Reply != nil {
		body, err := d.engine.RenderReply(asm)
		if err != nil {
			return fmt.Errorf("render %s: %w", dec.Reply.TemplateFile, err)
		}
		data, err := mailer.ComposeReply(mailer.Reply{
			From: a.from(),
			To:   dec.Reply.To, Cc: dec.Reply.Cc, Subject: dec.Reply.Subject,
			InReplyTo: dec.Reply.InReplyTo, References: dec.Reply.References,
			MessageID: dec.Reply.MessageID, Date: now, Body: body,
		})
		if err != nil {
			return fmt.Errorf("compose reply: %w", err)
		}
		rcpts := append(append([]string{}, dec.Reply.To...), dec.Reply.Cc...)
		outs = append(outs, &store.OutboxEntry{MessageID: dec.Reply.MessageID, Kind: store.KindReply, Ticket: dec.TicketID,
			From: a.FromAddr, To: rcpts, Data: data, Created: now, NextAttempt: now})
		for _, k := range dec.Reply.Counters {
			if err := tx.AddReply(k, f.InternalDate); err != nil {
				return err
			}
		}
		if t != nil {
			t.Messages = append(t.Messages, store.TicketMessage{MessageID: dec.Reply.MessageID, Received: now, Action: dec.Reply.Template,
				Direction: store.DirectionOut, Kind: store.MsgAuto, From: a.FromAddr})
		}
		brief, err := d.salesBrief(a, asm, t, now)
		if err != nil {
			return err
		}
		if brief != nil {
			outs = append(outs, brief)
		}
	}
	staff, err := d.composeStaff(tx, a, mb.Name, f, p, asm, t, now)
	if err != nil {
		return err
	}
	if staff != nil {
		outs = append(outs, staff)
	}
	tagAccount(a, outs)
	for _, o := range outs {
		if _, err := tx.Enqueue(o); err != nil {
			return fmt.Errorf("enqueue %s: %w", o.Kind, err)
		}
		if o.Ticket != "" && o.Kind == store.KindReply {
			if err := tx.IndexMessageID(o.MessageID, o.Ticket); err != nil {
				return err
			}
		}
	}
	if t != nil {
		t.Updated = now
		if err := tx.PutTicket(t); err != nil {
			return fmt.Errorf("ticket %s: %w", t.ID, err)
		}
		if msg.MessageID != "" {
			if err := tx.IndexMessageID(msg.MessageID, t.ID); err != nil {
				return err
			}
		}
	}
	entry := &store.LedgerEntry{Mailbox: mb.Name, UIDValidity: mb.UIDValidity, UID: f.UID, MessageID: msg.MessageID,
		ContentHash: p.hash, Fingerprint: p.fingerprint, Ticket: dec.TicketID, Action: string(dec.Action), SuppressReason: dec.SuppressReason,
		Processed: now, Keywords: append(append([]string{}, dec.Route.Keywords...), ProcessedKeyword)}
	if dec.Route.Folder != nil {
		entry.MoveTo = *dec.Route.Folder
	}
	return tx.PutLedger(entry)
}

// salesBrief is the internal brief to sales beside a lapsed or
// never-purchased notice (docs/design.md §11, support.sales_brief), nil when none is
// due. Its Message-ID is the reply's with ".sales": a retried batch
// enqueues the same message.
func (d *Daemon) salesBrief(a *Account, asm *Assessment, t *store.Ticket, now time.Time) (*store.OutboxEntry, error) {
	body, err := d.engine.RenderSalesBrief(asm)
	if err != nil || body == "" {
		return nil, err
	}
	dec, c := asm.Decision, asm.Input.Entitlement.Customer
	to := d.engine.Triage.SalesAddress
	id := strings.Replace(dec.Reply.MessageID, ".reply@", ".sales@", 1)
	data, err := mailer.ComposeReply(mailer.Reply{From: a.from(), To: []string{to},
		Subject: SalesBriefSubject(dec.TicketID, c.Company), MessageID: id, Date: now, Body: body,
		Extra: map[string]string{"X-Support-Ticket": dec.TicketID}})
	if err != nil {
		return nil, fmt.Errorf("compose sales brief for %s: %w", dec.TicketID, err)
	}
	if t != nil {
		t.Messages = append(t.Messages, store.TicketMessage{MessageID: id, Received: now, Action: "sales_brief",
			Direction: store.DirectionOut, Kind: store.MsgNote, From: a.FromAddr})
	}
	return &store.OutboxEntry{MessageID: id, Kind: store.KindStaff, Ticket: dec.TicketID, From: a.FromAddr,
		To: []string{to}, Data: data, Created: now, NextAttempt: now}, nil
}

// senderOf is the one author of m (the mailbox a DMARC check judges), ""
// when its From is not exactly one mailbox.
func senderOf(m *mailparse.Message) string {
	a := m.Author()
	if a == nil {
		return ""
	}
	return strings.ToLower(a.Addr)
}

// newTicket is the ticket a message opens.
func (d *Daemon) newTicket(asm *Assessment, received time.Time) *store.Ticket {
	msg, dec, ent := asm.Msg, asm.Decision, asm.Input.Entitlement
	t := &store.Ticket{ID: dec.TicketID, Subject: msg.Subject, From: senderOf(msg), Created: received, State: store.StateOpen,
		Status: ent.Status, Priority: ent.Priority, ReferencedTicket: dec.ReferencedTicket}
	if ent.Customer != nil {
		t.CustomerID, t.Company = ent.Customer.ID, ent.Customer.Company
	}
	if dec.Action == triage.Acknowledge && !asm.SLA.Deadline.IsZero() {
		t.Deadline = asm.SLA.Deadline
		d.setDue(t, asm.SLA.Deadline)
	}
	return t
}

// customerMessage applies a message from the customer's side (or a report
// about one of our messages) to its ticket: the message, its addresses and
// information, and the state change of §10.
func (d *Daemon) customerMessage(t *store.Ticket, a *Account, asm *Assessment, f poller.Fetched, now time.Time) {
	msg, dec := asm.Msg, asm.Decision
	t.Account = a.Name // the ticket's notices go out through the account its customer last wrote to
	kind := store.MsgCustomer
	if dec.Bounce {
		kind = store.MsgAuto // automatic mail about one of ours (direction in)
	}
	t.Messages = append(t.Messages, store.TicketMessage{MessageID: msg.MessageID, UID: f.UID, Received: f.InternalDate,
		Action: string(dec.Action), Direction: store.DirectionIn, Kind: kind, From: senderOf(msg)})
	if dec.Action == triage.Suppress {
		return // automatic mail (out-of-office, bounces) changes nothing else
	}
	t.AddAddress(senderOf(msg))
	for _, a := range msg.Cc {
		if !d.ours(a.Addr) {
			t.AddAddress(a.Addr)
		}
	}
	t.Have = haveOf(t.Have, msg)
	switch dec.Action {
	case triage.LapsedNotice, triage.UnsupportedVersion:
		// The policy's whole answer: the ticket is answered, no SLA runs.
		t.State = store.StateAnswered
		t.Deadline = time.Time{}
		d.setDue(t, time.Time{})
	case triage.FollowUp:
		if t.State != store.StateOpen {
			t.State, t.ClosedAt = store.StateOpen, time.Time{}
			d.setDue(t, d.engine.dueFor(t, f.InternalDate))
		}
	}
}

// ours reports whether addr is one of our own addresses or a staff member.
func (d *Daemon) ours(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" || triage.IsStaff(addr, d.engine.Staff) {
		return true
	}
	if triage.IsOwn(addr, d.engine.Triage.OwnAddresses) {
		return true
	}
	for _, a := range d.accountList {
		if triage.IsOwn(addr, []string{a.FromAddr}) {
			return true
		}
	}
	return false
}

// dueFor is when a response to a customer message on t received at
// received is due (§5), zero when no SLA applies to the ticket.
func (e *Engine) dueFor(t *store.Ticket, received time.Time) time.Time {
	if t.Status != entitlement.Active {
		return time.Time{}
	}
	return e.Calendar.Compute(received).Deadline
}

// setDue makes due the time the next response is due (zero: none), with
// its warning WarnBefore earlier; the warning and breach of the previous due
// time no longer apply.
func (d *Daemon) setDue(t *store.Ticket, due time.Time) { d.engine.setDue(t, due) }

func (e *Engine) setDue(t *store.Ticket, due time.Time) {
	t.ResponseDue, t.WarnAt, t.Warned, t.Breached = due, time.Time{}, false, false
	if !due.IsZero() && e.WarnBefore > 0 {
		t.WarnAt = due.Add(-e.WarnBefore)
	}
}

// SetTicketState closes or reopens ticket id at now (`supportd tickets
// close|reopen`): closing ends any pending response; reopening makes a
// response due by §5 from now. It returns the ticket as stored.
func (e *Engine) SetTicketState(tx *store.Tx, id, state string, now time.Time) (*store.Ticket, error) {
	t, err := tx.Ticket(id)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("ticket %s: %w", id, store.ErrNotFound)
	}
	switch state {
	case store.StateClosed:
		if t.State == store.StateClosed {
			return t, nil
		}
		t.State, t.ClosedAt = store.StateClosed, now
		e.setDue(t, time.Time{})
	case store.StateOpen:
		if t.State == store.StateOpen {
			return t, nil
		}
		t.State, t.ClosedAt = store.StateOpen, time.Time{}
		e.setDue(t, e.dueFor(t, now))
	default:
		return nil, fmt.Errorf("ticket %s: %w: state %q", id, store.ErrInvalid, state)
	}
	t.Updated = now
	return t, tx.PutTicket(t)
}

// respond records a response to the customer at at: the first response and
// whether it met the deadline, a late response as a breach (unless the
// breach notice already counted it), and the ticket as answered.
func (d *Daemon) respond(t *store.Ticket, at time.Time) {
	if o, first := d.engine.respond(t, at); first {
		d.batchObs = append(d.batchObs, o)
	}
}

// respond does the work of Daemon.respond; first reports whether this was
// the ticket's first response (o is then its observation for the metrics).
func (e *Engine) respond(t *store.Ticket, at time.Time) (o firstResponse, first bool) {
	if t.FirstResponseAt.IsZero() {
		t.FirstResponseAt = at
		t.FirstResponseMet = !t.Deadline.IsZero() && !at.After(t.Deadline)
		o, first = firstResponse{string(t.Status), at.Sub(t.Created)}, true
	}
	if !t.ResponseDue.IsZero() && at.After(t.ResponseDue) && !t.Breached {
		t.Breaches++
	}
	t.State, t.ClosedAt = store.StateAnswered, time.Time{}
	e.setDue(t, time.Time{})
	return o, first
}

// haveOf adds the information tokens msg gives to have.
func haveOf(have []string, msg *mailparse.Message) []string {
	missing := triage.MissingFields(msg)
	for _, tok := range triage.MissingOrder {
		if !contains(missing, tok) && !contains(have, tok) {
			have = append(have, tok)
		}
	}
	return have
}

// ticketMissing is what the whole ticket still lacks, in MissingOrder.
func ticketMissing(have []string) []string {
	missing := []string{}
	for _, tok := range triage.MissingOrder {
		if !contains(have, tok) {
			missing = append(missing, tok)
		}
	}
	return missing
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// staffReply applies an accepted staff reply to its ticket (§10): the new
// text above the quote is relayed to the customer, a #note is copied to the
// staff queue, #close and #open change the state; anything unclear is sent
// back to the staff member and nothing reaches the customer.
func (d *Daemon) staffReply(tx *store.Tx, a *Account, f poller.Fetched, p *parsedMsg, asm *Assessment, now time.Time) (*store.Ticket, []*store.OutboxEntry, error) {
	msg, dec := asm.Msg, asm.Decision
	t, err := tx.Ticket(dec.TicketID)
	if err != nil || t == nil {
		return nil, nil, fmt.Errorf("staff reply to ticket %s: %w", dec.TicketID, errors.Join(err, store.ErrNotFound))
	}
	staff := senderOf(msg)
	st := triage.CutStaffText(msg.Text)
	in := store.TicketMessage{MessageID: msg.MessageID, UID: f.UID, Received: f.InternalDate, Action: string(dec.Action),
		Direction: store.DirectionIn, Kind: store.MsgStaff, From: staff}
	var outs []*store.OutboxEntry
	problem := ""
	switch {
	case len(st.Unknown) > 0:
		problem = "unknown command " + strings.Join(st.Unknown, ", ") + " (known: #note, #close, #open)"
	case st.Has(triage.CmdNote) && st.Text == "":
		problem = "#note without text"
	case st.Text == "" && len(st.Commands) == 0:
		problem = "no text above the quoted staff copy"
	}
	switch {
	case problem != "":
		in.Kind, in.Action = store.MsgNote, "not_sent"
		n, err := d.notice(a, staff, t.ID, p.hash, "not-sent",
			fmt.Sprintf("[%s] Not sent to the customer: %s", t.ID, problem),
			fmt.Sprintf("Your message to ticket %s was NOT sent to the customer: %s.\n\nWrite your answer above the line \"%s\" of the staff copy; the first lines may be the commands #note (internal note), #close or #open.\n", t.ID, problem, triage.ReplyMarker), now)
		if err != nil {
			return nil, nil, err
		}
		outs = append(outs, n)
	case st.Has(triage.CmdNote):
		in.Kind = store.MsgNote
		if d.cfg.StaffQueue != "" {
			n, err := d.notice(a, d.cfg.StaffQueue, t.ID, p.hash, "note",
				fmt.Sprintf("[%s] Note from %s: %s", t.ID, staff, triage.SanitizeHeader(t.Subject)),
				fmt.Sprintf("Internal note on ticket %s by %s (not sent to the customer):\n\n%s\n", t.ID, staff, st.Text), now)
			if err != nil {
				return nil, nil, err
			}
			outs = append(outs, n)
		}
	case st.Text != "":
		relay, err := d.composeRelay(a, t, f, p, msg.Author(), st.Text, now)
		if err != nil {
			return nil, nil, err
		}
		outs = append(outs, relay)
		t.Messages = append(t.Messages, in)
		in = store.TicketMessage{MessageID: relay.MessageID, Received: now, Action: "relay", Direction: store.DirectionOut, Kind: store.MsgStaff, From: staff}
		d.respond(t, f.InternalDate)
	}
	t.Messages = append(t.Messages, in)
	if problem == "" {
		for _, c := range st.Commands {
			switch c {
			case triage.CmdClose:
				t.State, t.ClosedAt = store.StateClosed, f.InternalDate
				d.setDue(t, time.Time{})
			case triage.CmdOpen:
				if t.State != store.StateOpen {
					t.State, t.ClosedAt = store.StateOpen, time.Time{}
					d.setDue(t, d.engine.dueFor(t, f.InternalDate))
				}
			}
		}
	}
	return t, outs, nil
}

// notice is a short message from supportd to one address (a staff member,
// the staff queue), with a Message-ID derived from the ticket, the incoming
// message and kind, so it is queued once.
func (d *Daemon) notice(a *Account, to, ticket, hash, kind, subject, body string, now time.Time) (*store.OutboxEntry, error) {
	id := derivedID(ticket, hash, kind, a.FromAddr)
	data, err := mailer.ComposeReply(mailer.Reply{From: a.from(), To: []string{to}, Subject: subject, MessageID: id, Date: now, Body: body,
		Extra: map[string]string{"X-Support-Ticket": ticket}})
	if err != nil {
		return nil, fmt.Errorf("compose %s notice: %w", kind, err)
	}
	return &store.OutboxEntry{MessageID: id, Kind: store.KindStaff, Ticket: ticket, From: a.FromAddr, To: []string{to},
		Data: data, Created: now, NextAttempt: now}, nil
}

func derivedID(ticket, hash, kind, from string) string {
	h := hash
	if len(h) > 16 {
		h = h[:16]
	}
	return "<" + strings.ToLower(ticket) + "." + h + "." + kind + "@" + domainOrInvalid(from) + ">"
}

func domainOrInvalid(addr string) string {
	if d := domainOf(addr); d != "" {
		return d
	}
	return "supportd.invalid"
}

// maxStaffNameRunes bounds the staff name in a relay's From display name.
const maxStaffNameRunes = 64

// relayFrom is the From of a relayed staff reply: the support address, and
// with support.reply_name_from_staff the staff member's display name before
// ours: "Erin Engineer via Support" (just the staff name when smtp.from has
// no display name). A staff From without a name, or whose name holds an
// address, leaves our From as it is: the customer never sees a staff address.
func (d *Daemon) relayFrom(acct *Account, staff *mailparse.Address) gomail.Address {
	from := acct.from()
	if !d.cfg.ReplyNameFromStaff || staff == nil {
		return from
	}
	name := mailtext.Sanitize(staff.Name, maxStaffNameRunes)
	if name == "" || strings.Contains(name, "@") {
		return from
	}
	if from.Name != "" {
		name += " via " + from.Name
	}
	from.Name = name
	return from
}

// composeRelay builds the customer's copy of a staff reply: From the
// support address (relayFrom), to the requester and the customer's Cc,
// threaded to the customer's latest message, the staff text and attachments;
// it goes out through acct, the account the staff reply came in on.
func (d *Daemon) composeRelay(acct *Account, t *store.Ticket, f poller.Fetched, p *parsedMsg, staff *mailparse.Address, text string, now time.Time) (*store.OutboxEntry, error) {
	to := []string{t.From}
	var cc []string
	for _, a := range t.Addresses {
		if a != strings.ToLower(t.From) && !d.ours(a) {
			cc = append(cc, a)
		}
	}
	if t.From == "" || d.ours(t.From) {
		if len(cc) == 0 {
			return nil, fmt.Errorf("relay for ticket %s: the ticket has no customer address", t.ID)
		}
		to, cc = cc[:1], cc[1:]
	}
	var refs []string
	parent := ""
	for _, m := range t.Messages {
		if m.Direction == store.DirectionIn && m.MessageKind() == store.MsgCustomer && m.MessageID != "" {
			parent = m.MessageID
			refs = append(refs, m.MessageID)
		}
	}
	atts, err := staffAttachments(f.Path, d.cfg.RelayMaxAttachmentBytes)
	if err != nil {
		return nil, fmt.Errorf("relay for ticket %s: %w", t.ID, err)
	}
	id := derivedID(t.ID, p.hash, "relay", acct.FromAddr)
	data, err := mailer.ComposeReply(mailer.Reply{From: d.relayFrom(acct, staff), To: to, Cc: cc,
		Subject: triage.ReplySubject(t.ID, t.Subject), InReplyTo: parent, References: refs,
		MessageID: id, Date: now, Body: text + "\n", Relayed: true, Attachments: atts})
	if err != nil {
		return nil, fmt.Errorf("compose relay for ticket %s: %w", t.ID, err)
	}
	return &store.OutboxEntry{MessageID: id, Kind: store.KindReply, Ticket: t.ID, From: acct.FromAddr,
		To: append(append([]string{}, to...), cc...), Data: data, Created: now, NextAttempt: now}, nil
}

// Bounds of staffAttachments.
const (
	maxRelayAttachments            = 50
	DefaultRelayMaxAttachmentBytes = 25 << 20
)

// staffAttachments reads the attachments of a staff reply from its spooled
// bytes (at most max bytes in all; more is an error: the staff member is told
// and nothing is relayed). The quoted staff copy (original.eml) and inline
// parts (signature images) are left out.
func staffAttachments(path string, max int64) ([]mailer.Attachment, error) {
	if max <= 0 {
		max = DefaultRelayMaxAttachmentBytes
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read staff reply: %w", err)
	}
	defer file.Close()
	mr, err := gomail.CreateReader(file)
	if err != nil && !message.IsUnknownCharset(err) {
		return nil, nil // not MIME we can read: the text goes, without attachments
	}
	var atts []mailer.Attachment
	var total int64
	for len(atts) < maxRelayAttachments {
		part, err := mr.NextPart()
		if err != nil {
			break // io.EOF, or malformed below this point: keep what was read
		}
		h, ok := part.Header.(*gomail.AttachmentHeader)
		if !ok {
			continue
		}
		name, _ := h.Filename()
		ct, _, _ := h.ContentType()
		if strings.EqualFold(ct, "message/rfc822") && strings.EqualFold(name, "original.eml") {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part.Body, max-total+1))
		if err != nil {
			continue
		}
		total += int64(len(data))
		if total > max {
			return nil, fmt.Errorf("attachments exceed %d bytes", max)
		}
		atts = append(atts, mailer.Attachment{Filename: name, ContentType: ct, Data: data})
	}
	return atts, nil
}

// composeStaff builds the routed copy for staff (support.staff_queue and rule
// forwards) with the X-Support-* headers, the [ticket][P][status] subject
// tag, the ticket's signed reply address as Reply-To and the reply marker at
// the top; nil when the message is not forwarded.
func (d *Daemon) composeStaff(tx *store.Tx, a *Account, mailbox string, f poller.Fetched, p *parsedMsg, asm *Assessment, t *store.Ticket, now time.Time) (*store.OutboxEntry, error) {
	dec := asm.Decision
	if len(dec.Route.ForwardTo) == 0 {
		return nil, nil
	}
	raw, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("staff copy: %w", err)
	}
	defer raw.Close()
	id := staffMessageID(dec.TicketID, p.hash, a.FromAddr)
	replyTo := ""
	if t != nil {
		replyTo = d.replyAddress(tx, a, t.ID)
	}
	preface, err := d.staffPreface(asm, t, replyTo)
	if err != nil {
		return nil, err
	}
	original := io.Reader(raw)
	if limit := d.cfg.StaffCopyMaxBytes; limit > 0 && f.Size > limit {
		note := fmt.Sprintf("The original message (%d bytes) is larger than the staff copy limit of %d bytes: only its header is attached. Read it in the mailbox %s (UID %d).", f.Size, limit, mailbox, f.UID)
		preface += note + "\n"
		if original, err = headerOnly(raw, note); err != nil {
			return nil, fmt.Errorf("staff copy: %w", err)
		}
	}
	data, err := mailer.StaffCopy{
		From: a.FromAddr, To: dec.Route.ForwardTo[0], ReplyTo: replyTo,
		Subject: dec.StaffSubject, Headers: staffHeaders(asm, t), Preface: preface,
		MessageID: id, Date: now,
	}.Compose(original)
	if err != nil {
		return nil, fmt.Errorf("compose staff copy: %w", err)
	}
	return &store.OutboxEntry{MessageID: id, Kind: store.KindForward,
		Ticket: dec.TicketID, From: a.FromAddr, To: dec.Route.ForwardTo, Data: data, Created: now, NextAttempt: now}, nil
}

// replyAddress is the signed reply address of ticket (first support address
// with a "+" tag), "" when there is no support address or secret.
func (d *Daemon) replyAddress(tx *store.Tx, a *Account, ticket string) string {
	base := a.FromAddr
	if len(a.Addresses) > 0 {
		base = a.Addresses[0]
	}
	return triage.ReplyAddress(tx.Secret(), ticket, base)
}

// staffPreface is the text part of a staff copy: the reply marker, then
// templates/staff.tmpl (an operator may override it) with the ticket's view:
// what the whole ticket still lacks, and when its next response is due.
func (d *Daemon) staffPreface(a *Assessment, t *store.Ticket, replyTo string) (string, error) {
	dec, ent, m := a.Decision, a.Input.Entitlement, a.Msg
	data := templates.Data{
		TicketID: dec.TicketID, Status: string(ent.Status), Priority: ent.Priority, Action: string(dec.Action),
		Missing: dec.Missing, Build: m.Build, ServerOS: m.ServerOS, ExtendedSupport: ent.ExtendedSupport,
		From: senderOf(m), ReplyAddress: replyTo,
	}
	if a.Input.Version.Known {
		data.Major = a.Input.Version.Major
	}
	if m.Browser != nil {
		data.Browser = strings.TrimSpace(m.Browser.Name + " " + m.Browser.Version)
	}
	if ent.Customer != nil {
		data.CustomerName = ent.Customer.Company
	}
	due := a.SLA.Deadline
	if t != nil {
		data.Missing = ticketMissing(t.Have)
		data.State = t.State
		due = t.ResponseDue
		if !t.Deadline.IsZero() && t.FirstResponseAt.IsZero() {
			due = t.Deadline
		}
		if t.State != store.StateOpen {
			due = time.Time{}
		}
	}
	if !due.IsZero() {
		data.Deadline = sla.FormatDeadline(due)
	}
	data.Notes = staffNotes(a)
	body, err := d.engine.Renderer.Render(templates.Staff, data)
	if err != nil {
		return "", fmt.Errorf("render staff copy: %w", err)
	}
	return triage.ReplyMarker + "\n" + body, nil
}

// staffNotes are the lines of a staff copy beyond the fields: why no reply
// went out, what was sent, what the parser noticed (quoted: it is the
// sender's text).
func staffNotes(a *Assessment) []string {
	dec, ent := a.Decision, a.Input.Entitlement
	var notes []string
	if dec.UnverifiedStaff {
		notes = append(notes, "UNVERIFIED STAFF MAIL: the sender is a staff address, but the message was neither sent to a ticket's signed reply address nor verified by a trusted Authentication-Results. Nothing was sent to any customer.")
	}
	if dec.Bounce {
		notes = append(notes, "DELIVERY FAILED: this is a delivery report of one of our messages on this ticket; the customer may not have received it.")
	}
	if dec.ReferencedTicket != "" {
		notes = append(notes, "The message names ticket "+dec.ReferencedTicket+", which it may not follow up (another customer's, or closed): it opened its own ticket.")
	}
	if ent.Customer == nil && ent.Hidden {
		notes = append(notes, "The sender matches a customer but is NOT verified (treated as unknown).")
	}
	if dec.Action == triage.UnsupportedVersion {
		notes = append(notes, "The unsupported-version reply answers this ticket: no SLA runs for it.")
	}
	if dec.Reply != nil {
		s := fmt.Sprintf("Automatic reply (%s) to %s", dec.Reply.Template, strings.Join(dec.Reply.To, ", "))
		if len(dec.Reply.Cc) > 0 {
			s += ", cc " + strings.Join(dec.Reply.Cc, ", ")
		}
		notes = append(notes, s)
	}
	if dec.NoReplyReason != "" {
		notes = append(notes, "No automatic reply: "+dec.NoReplyReason)
	} else if dec.SuppressReason != "" {
		notes = append(notes, "No automatic reply: "+dec.SuppressReason)
	}
	if len(a.Msg.Problems) > 0 {
		notes = append(notes, "Parser notes (quoted text is the message's own): "+quoteNotes(a.Msg.Problems))
	}
	return notes
}

// reportedID matches a Message-ID field inside a delivery report (the
// returned message or its headers).
var reportedID = regexp.MustCompile(`(?i)^message-id:\s*(<[^<>\s]{1,250}>)`)

// maxReportScan bounds how much of a delivery report ReportedIDs reads.
const maxReportScan = 1 << 20

// ReportedIDs returns the Message-IDs quoted in a delivery report (in its
// message/rfc822 or text/rfc822-headers part), after the report's own header:
// the messages it reports on. At most the first 1 MiB is read.
func ReportedIDs(r io.Reader) []string {
	sc := bufio.NewScanner(io.LimitReader(r, maxReportScan))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var ids []string
	inBody := false
	for sc.Scan() && len(ids) < 20 {
		line := sc.Text()
		if !inBody {
			inBody = strings.TrimSpace(line) == ""
			continue
		}
		if m := reportedID.FindStringSubmatch(line); m != nil {
			ids = append(ids, m[1])
		}
	}
	return ids
}

func staffMessageID(ticket, hash, from string) string {
	if ticket == "" {
		ticket = "untracked"
	}
	return derivedID(ticket, hash, "staff", from)
}
