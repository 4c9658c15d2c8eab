// Package dashboard is the staff's read-only web page on the metrics listener
// (docs/design.md §12): open tickets sorted by response due with a live countdown,
// overdue ones marked, counts by state and priority, today's SLA compliance
// per status, and each ticket's detail (fields, entitlement, messages).
//
// Server-rendered html/template with embedded assets: no build step, no CDN,
// no request of the page's own but its stylesheet and script. The admin token
// protects it: a login form posts the token, which is never in a URL; the
// session cookie (HttpOnly, SameSite=Strict) holds an HMAC of the token, not
// the token. Every response carries a strict Content-Security-Policy (no
// inline script or style, nothing from elsewhere, no framing). Nothing in it
// changes the store: it only opens read transactions, and every method but
// GET/HEAD (and the login POST) is refused.
//
// Tickets are read as their stored JSON with the field names of docs/design.md §10
// (state, requester, first_response_due, first_response_at, response_due,
// breaches, referenced_ticket, messages with at/direction/kind/from), falling
// back to the earlier fields (from, deadline, received, action) where a
// ticket does not have them.
package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"supportd/entitlement"
	"supportd/store"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/page.html"))

// CSP is the Content-Security-Policy of every response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// CookieName is the session cookie.
const CookieName = "supportd_session"

// Options of the dashboard.
type Options struct {
	DB       *store.DB
	Token    string         // the admin token
	Location *time.Location // support.timezone (default UTC)
	Now      func() time.Time
	Logger   *slog.Logger
}

type handler struct {
	o       Options
	session string // the cookie value: HMAC of the token
	mux     *http.ServeMux
}

// New returns the dashboard's handler, to be mounted at "/".
func New(o Options) http.Handler {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mac := hmac.New(sha256.New, []byte(o.Token))
	mac.Write([]byte("supportd dashboard session v1"))
	h := &handler{o: o, session: hex.EncodeToString(mac.Sum(nil)), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.auth(h.queue))
	h.mux.HandleFunc("GET /ticket/{id}", h.auth(h.ticket))
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("GET /static/app.js", h.static("assets/app.js", "text/javascript; charset=utf-8"))
	h.mux.HandleFunc("GET /static/app.css", h.static("assets/app.css", "text/css; charset=utf-8"))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !(r.Method == http.MethodPost && r.URL.Path == "/login") {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "the dashboard is read-only", http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *handler) static(name, ctype string) http.HandlerFunc {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

func (h *handler) signedIn(r *http.Request) bool {
	c, err := r.Cookie(CookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.session)) == 1
}

func (h *handler) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.signedIn(r) {
			h.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Sign in"})
			return
		}
		next(w, r)
	}
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := r.PostFormValue("token")
	if h.o.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(h.o.Token)) != 1 {
		h.o.Logger.Warn("dashboard sign-in refused: wrong token", "remote", r.RemoteAddr)
		h.render(w, http.StatusUnauthorized, "login", map[string]any{"Title": "Sign in", "Error": "Wrong token."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: h.session, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *handler) render(w http.ResponseWriter, status int, name string, data any) {
	var b strings.Builder
	if err := page.ExecuteTemplate(&b, name, data); err != nil {
		h.o.Logger.Error("dashboard template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

// ticketJSON is a stored ticket with the docs/design.md §10 field names and the
// earlier ones.
type ticketJSON struct {
	ID               string     `json:"id"`
	State            string     `json:"state"`
	CustomerID       string     `json:"customer_id"`
	Company          string     `json:"company"`
	Status           string     `json:"status"`
	Priority         int        `json:"priority"`
	Subject          string     `json:"subject"`
	Requester        string     `json:"requester"`
	From             string     `json:"from"`
	Created          time.Time  `json:"created"`
	FirstResponseDue *time.Time `json:"first_response_due"`
	FirstResponseAt  *time.Time `json:"first_response_at"`
	ResponseDue      *time.Time `json:"response_due"`
	Deadline         *time.Time `json:"deadline"`
	Breaches         int        `json:"breaches"`
	Referenced       string     `json:"referenced_ticket"`
	Messages         []struct {
		At        *time.Time `json:"at"`
		Received  *time.Time `json:"received"`
		Direction string     `json:"direction"`
		Kind      string     `json:"kind"`
		From      string     `json:"from"`
		MessageID string     `json:"message_id"`
	} `json:"messages"`
}

func (t *ticketJSON) requester() string {
	if t.Requester != "" {
		return t.Requester
	}
	return t.From
}

// due is the time the next response is due (nil when none is).
func (t *ticketJSON) due() *time.Time {
	if t.State != "" && t.State != "open" {
		return nil
	}
	if t.ResponseDue != nil && !t.ResponseDue.IsZero() {
		return t.ResponseDue
	}
	if t.FirstResponseDue == nil && t.Deadline != nil && !t.Deadline.IsZero() && t.FirstResponseAt == nil {
		return t.Deadline
	}
	return nil
}

func (t *ticketJSON) firstDue() *time.Time {
	if t.FirstResponseDue != nil && !t.FirstResponseDue.IsZero() {
		return t.FirstResponseDue
	}
	if t.Deadline != nil && !t.Deadline.IsZero() {
		return t.Deadline
	}
	return nil
}

// row is one ticket as the pages show it.
type row struct {
	ID, Priority, Status, Customer, Subject, State, Requester string
	DueText, LeftText, CreatedText, FirstDueText, FirstAtText string
	Referenced                                                string
	Breaches                                                  int
	HasDue, Overdue                                           bool
	DueMillis                                                 int64
	due                                                       time.Time
	Messages                                                  []messageRow
}

type messageRow struct{ At, Direction, Kind, From, MessageID string }

func (h *handler) fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.In(h.o.Location).Format("Mon 2 Jan 15:04 MST")
}

// left is the server's rendering of a countdown; the script updates it.
func left(d time.Duration) string {
	s := int64(d.Abs() / time.Second)
	days, hours, mins, secs := s/86400, s%86400/3600, s%3600/60, s%60
	var out string
	switch {
	case days > 0:
		out = fmt.Sprintf("%dd %dh %dm", days, hours, mins)
	case hours > 0:
		out = fmt.Sprintf("%dh %dm %ds", hours, mins, secs)
	default:
		out = fmt.Sprintf("%dm %ds", mins, secs)
	}
	if d < 0 {
		return "overdue by " + out
	}
	return "in " + out
}

func (h *handler) row(t *ticketJSON, now time.Time) row {
	r := row{ID: t.ID, Priority: fmt.Sprintf("P%d", t.Priority), Status: t.Status, Subject: t.Subject, State: t.State,
		Requester: t.requester(), Customer: strings.TrimSpace(t.Company + " " + t.requester()), Referenced: t.Referenced,
		Breaches: t.Breaches, CreatedText: h.fmtTime(&t.Created), FirstDueText: h.fmtTime(t.firstDue()), FirstAtText: h.fmtTime(t.FirstResponseAt)}
	if t.Priority == 0 {
		r.Priority = "—"
	}
	if d := t.due(); d != nil {
		r.HasDue, r.due, r.DueMillis = true, *d, d.UnixMilli()
		r.DueText, r.LeftText, r.Overdue = h.fmtTime(d), left(d.Sub(now)), !now.Before(*d)
	} else {
		r.DueText = "—"
	}
	for _, m := range t.Messages {
		at := m.At
		if at == nil {
			at = m.Received
		}
		kind := store.TicketMessage{Kind: m.Kind, Direction: m.Direction}.MessageKind() // as tickets show has it
		r.Messages = append(r.Messages, messageRow{At: h.fmtTime(at), Direction: m.Direction, Kind: kind, From: m.From, MessageID: m.MessageID})
	}
	return r
}

// tickets reads every stored ticket in one read transaction.
func (h *handler) tickets() ([]ticketJSON, error) {
	var out []ticketJSON
	err := h.o.DB.View(func(tx *store.Tx) error {
		return tx.ForEachRecord(func(b string, k, v []byte) error {
			if b != "tickets" {
				return nil
			}
			var t ticketJSON
			if err := json.Unmarshal(v, &t); err != nil {
				h.o.Logger.Warn("dashboard: unreadable ticket", "ticket", string(k), "err", err)
				return nil
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

type count struct {
	Name  string
	Count int
}

type slaRow struct {
	Status                             string
	Due, OnTime, Late, Missed, Pending int
	Percent                            string
}

func (h *handler) queue(w http.ResponseWriter, r *http.Request) {
	ts, err := h.tickets()
	if err != nil {
		h.o.Logger.Error("dashboard: reading tickets failed", "err", err)
		http.Error(w, "reading the store failed", http.StatusInternalServerError)
		return
	}
	now := h.o.Now()
	states := map[string]int{"open": 0, "answered": 0, "closed": 0}
	prios := map[string]int{"P1": 0, "P2": 0, "P3": 0, "P4": 0}
	var open []row
	y, m, d := now.In(h.o.Location).Date()
	dayStart := time.Date(y, m, d, 0, 0, 0, 0, h.o.Location)
	dayEnd := dayStart.AddDate(0, 0, 1)
	sla := map[string]*slaRow{}
	for i := range ts {
		t := &ts[i]
		st := t.State
		if st == "" {
			st = "open"
		}
		states[st]++
		if st == "open" {
			prios[fmt.Sprintf("P%d", t.Priority)]++
			open = append(open, h.row(t, now))
		}
		if fd := t.firstDue(); fd != nil && !fd.Before(dayStart) && fd.Before(dayEnd) {
			s := sla[t.Status]
			if s == nil {
				s = &slaRow{Status: t.Status}
				sla[t.Status] = s
			}
			s.Due++
			switch at := t.FirstResponseAt; {
			case at != nil && !at.After(*fd):
				s.OnTime++
			case at != nil:
				s.Late++
			case !now.Before(*fd):
				s.Missed++
			default:
				s.Pending++
			}
		}
	}
	sort.SliceStable(open, func(i, j int) bool {
		a, b := open[i], open[j]
		if a.HasDue != b.HasDue {
			return a.HasDue
		}
		if a.HasDue && !a.due.Equal(b.due) {
			return a.due.Before(b.due)
		}
		return a.ID < b.ID
	})
	var stateCounts, prioCounts []count
	for _, s := range []string{"open", "answered", "closed"} {
		stateCounts = append(stateCounts, count{s, states[s]})
	}
	for _, p := range []string{"P1", "P2", "P3", "P4"} {
		prioCounts = append(prioCounts, count{p, prios[p]})
	}
	var slaRows []slaRow
	for _, s := range sla {
		if decided := s.OnTime + s.Late + s.Missed; decided > 0 {
			s.Percent = fmt.Sprintf("%.0f%%", 100*float64(s.OnTime)/float64(decided))
		} else {
			s.Percent = "—"
		}
		slaRows = append(slaRows, *s)
	}
	sort.Slice(slaRows, func(i, j int) bool { return slaRows[i].Status < slaRows[j].Status })
	h.render(w, http.StatusOK, "queue", map[string]any{
		"Title": "Support queue", "Now": now.In(h.o.Location).Format("Mon 2 Jan 2006 15:04:05 MST"), "Zone": h.o.Location.String(),
		"States": stateCounts, "Priorities": prioCounts, "Open": open, "SLA": slaRows,
	})
}

var ticketIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

type customerView struct {
	ID, Company, License, ASUP, Trial, Contacts, Domains string
	Free5, Extended                                      bool
}

func (h *handler) ticket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !ticketIDRE.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	var t *ticketJSON
	var c *entitlement.Customer
	err := h.o.DB.View(func(tx *store.Tx) error {
		return tx.ForEachRecord(func(b string, k, v []byte) error {
			if b != "tickets" || string(k) != id {
				return nil
			}
			t = &ticketJSON{}
			if err := json.Unmarshal(v, t); err != nil {
				return err
			}
			if t.CustomerID != "" {
				var err error
				c, err = tx.Customer(t.CustomerID)
				return err
			}
			return nil
		})
	})
	if err != nil {
		h.o.Logger.Error("dashboard: reading a ticket failed", "ticket", id, "err", err)
		http.Error(w, "reading the store failed", http.StatusInternalServerError)
		return
	}
	if t == nil {
		http.NotFound(w, r)
		return
	}
	data := map[string]any{"Title": t.ID, "T": h.row(t, h.o.Now())}
	if c != nil {
		data["C"] = customerView{ID: c.ID, Company: c.Company, License: c.License, ASUP: c.ASUPExpires.String(), Trial: c.TrialExpires.String(),
			Contacts: strings.Join(c.Contacts, ", "), Domains: strings.Join(c.Domains, ", "), Free5: c.Free5, Extended: c.ExtendedSupport}
	}
	h.render(w, http.StatusOK, "ticket", data)
}
