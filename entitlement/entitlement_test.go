package entitlement

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func adelaide(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

func mustDate(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"2026-11-25", "2026-11-25", false},
		{" 2027-03-01 ", "2027-03-01", false},
		{"", "", false},
		{"2026-02-30", "", true},
		{"25/11/2026", "", true},
		{"2026-1-5", "", true},
		{"2026-11-25T00:00:00Z", "", true},
	}
	for _, tt := range tests {
		d, err := ParseDate(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseDate(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got := d.String(); got != tt.want {
			t.Errorf("ParseDate(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if d.IsZero() != (tt.want == "") {
			t.Errorf("ParseDate(%q).IsZero() = %v", tt.in, d.IsZero())
		}
	}
}

func TestDateJSON(t *testing.T) {
	type rec struct {
		D Date `json:"d"`
	}
	b, err := json.Marshal(rec{D: Date{2027, time.March, 1}})
	if err != nil || string(b) != `{"d":"2027-03-01"}` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	b, _ = json.Marshal(rec{})
	if string(b) != `{"d":null}` {
		t.Fatalf("marshal zero = %s", b)
	}
	var r rec
	if err := json.Unmarshal([]byte(`{"d":"2026-11-25"}`), &r); err != nil || r.D != (Date{2026, time.November, 25}) {
		t.Fatalf("unmarshal = %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"d":null}`), &r); err != nil || !r.D.IsZero() {
		t.Fatalf("unmarshal null = %+v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"d":"tomorrow"}`), &r); err == nil {
		t.Fatal("unmarshal of a bad date succeeded")
	}
}

type fakeFinder struct {
	byContact map[string]*Customer
	byDomain  map[string]*Customer
	err       error
}

func (f fakeFinder) CustomerByContact(a string) (*Customer, error) { return f.byContact[a], f.err }
func (f fakeFinder) CustomerByDomain(d string) (*Customer, error)  { return f.byDomain[d], f.err }

func TestMatch(t *testing.T) {
	a := &Customer{ID: "A", Contacts: []string{"it@a.test", "bob@gmail.com", "carol@b.test"}, Domains: []string{"a.test"}}
	b := &Customer{ID: "B", Domains: []string{"b.test"}}
	g := &Customer{ID: "G", Domains: []string{"gmail.com"}} // a bad record: public domains never match by domain
	f := fakeFinder{
		byContact: map[string]*Customer{"it@a.test": a, "bob@gmail.com": a, "carol@b.test": a},
		byDomain:  map[string]*Customer{"a.test": a, "b.test": b, "gmail.com": g},
	}
	public := []string{"gmail.com", "Outlook.com"}
	tests := []struct {
		addr   string
		wantID string
		wantBy string
	}{
		{"it@a.test", "A", "contact"},
		{"IT@A.Test", "A", "contact"},
		{"someone@a.test", "A", "domain"},
		{"carol@b.test", "A", "contact"}, // contact of A at a domain of B → A
		{"dave@b.test", "B", "domain"},
		{"bob@gmail.com", "A", "contact"},
		{"alice@gmail.com", "", ""},
		{"x@outlook.com", "", ""},
		{"x@unknown.test", "", ""},
		{"", "", ""},
		{"no-at-sign", "", ""},
		{"trailing@", "", ""},
	}
	for _, tt := range tests {
		c, by, err := Match(f, tt.addr, public)
		if err != nil {
			t.Fatalf("Match(%q): %v", tt.addr, err)
		}
		id := ""
		if c != nil {
			id = c.ID
		}
		if id != tt.wantID || by != tt.wantBy {
			t.Errorf("Match(%q) = %q,%q want %q,%q", tt.addr, id, by, tt.wantID, tt.wantBy)
		}
	}
	boom := errors.New("boom")
	if _, _, err := Match(fakeFinder{err: boom}, "x@a.test", nil); !errors.Is(err, boom) {
		t.Errorf("Match finder error = %v, want wrapped boom", err)
	}
}

func TestEvaluate(t *testing.T) {
	loc := adelaide(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, loc)
	past, future := "2026-01-31", "2027-06-30"
	cust := func(asup, trial string, free5, ext bool) *Customer {
		return &Customer{ID: "C1", Company: "Acme", ASUPExpires: mustDate(t, asup), TrialExpires: mustDate(t, trial), Free5: free5, ExtendedSupport: ext}
	}
	tests := []struct {
		name       string
		c          *Customer
		verified   bool
		require    bool
		wantStatus Status
		wantPrio   int
		wantExt    bool
		wantHidden bool
	}{
		{"active", cust(future, "", false, false), true, false, Active, 1, false, false},
		{"active extended", cust(future, "", false, true), true, false, Active, 1, true, false},
		{"trial", cust("", future, false, true), true, false, Trial, 2, false, false},
		{"trial with lapsed asup", cust(past, future, false, false), true, false, Trial, 2, false, false},
		{"free", cust("", "", true, false), true, false, Free, 3, false, false},
		{"free5 with expired asup", cust(past, "", true, true), true, false, Free, 3, false, false},
		{"expired trial and asup", cust(past, past, false, false), true, false, Lapsed, 4, false, false},
		{"never bought", cust("", "", false, false), true, false, Lapsed, 4, false, false},
		{"lapsed extended is not extended", cust(past, "", false, true), true, false, Lapsed, 4, false, false},
		{"unknown", nil, true, false, Unknown, 4, false, false},
		{"unknown unverified", nil, false, true, Unknown, 4, false, false},
		{"unverified, switch off", cust(future, "", false, true), false, false, Active, 1, true, false},
		{"unverified, switch on", cust(future, "", false, true), false, true, Unknown, 4, false, true},
		{"verified, switch on", cust(future, "", false, true), true, true, Active, 1, true, false},
		{"unverified lapsed, switch on", cust(past, "", false, false), false, true, Unknown, 4, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Location: loc, RequireVerifiedSender: tt.require}
			r := Evaluate(tt.c, ByContact, tt.verified, at, p)
			if r.Status != tt.wantStatus || r.Priority != tt.wantPrio || r.ExtendedSupport != tt.wantExt || r.Hidden != tt.wantHidden {
				t.Fatalf("got %+v, want status %s prio %d ext %v hidden %v", r, tt.wantStatus, tt.wantPrio, tt.wantExt, tt.wantHidden)
			}
			if r.VerifiedSender != tt.verified {
				t.Errorf("VerifiedSender = %v, want %v", r.VerifiedSender, tt.verified)
			}
			wantCustomer := tt.c != nil && !tt.wantHidden
			if (r.Customer != nil) != wantCustomer {
				t.Errorf("Customer = %v, want present %v", r.Customer, wantCustomer)
			}
			if wantCustomer != (r.MatchedBy == ByContact) {
				t.Errorf("MatchedBy = %q", r.MatchedBy)
			}
		})
	}
}

func TestEvaluateExpiryEdge(t *testing.T) {
	loc := adelaide(t)
	tests := []struct {
		name   string
		expiry string
		at     time.Time
		want   Status
	}{
		// Summer (ACDT, +10:30).
		{"last second of the day", "2026-11-25", time.Date(2026, 11, 25, 23, 59, 59, 999999999, loc), Active},
		{"midnight after", "2026-11-25", time.Date(2026, 11, 26, 0, 0, 0, 0, loc), Lapsed},
		{"same instant in UTC, before", "2026-11-25", time.Date(2026, 11, 25, 13, 29, 59, 0, time.UTC), Active},
		{"same instant in UTC, after", "2026-11-25", time.Date(2026, 11, 25, 13, 30, 0, 0, time.UTC), Lapsed},
		{"UTC date already past", "2026-11-25", time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Active},
		// Winter (ACST, +09:30).
		{"winter last second", "2026-06-30", time.Date(2026, 6, 30, 14, 29, 59, 0, time.UTC), Active},
		{"winter midnight after", "2026-06-30", time.Date(2026, 6, 30, 14, 30, 0, 0, time.UTC), Lapsed},
		// Day before DST starts (2026-10-04 02:00 ACST → 03:00 ACDT): midnight is still ACST.
		{"before DST start, last second", "2026-10-03", time.Date(2026, 10, 3, 14, 29, 59, 0, time.UTC), Active},
		{"before DST start, midnight", "2026-10-03", time.Date(2026, 10, 3, 14, 30, 0, 0, time.UTC), Lapsed},
		// Day before DST ends (2026-04-05 03:00 ACDT → 02:00 ACST): midnight is still ACDT.
		{"before DST end, last second", "2026-04-04", time.Date(2026, 4, 4, 13, 29, 59, 0, time.UTC), Active},
		{"before DST end, midnight", "2026-04-04", time.Date(2026, 4, 4, 13, 30, 0, 0, time.UTC), Lapsed},
		// The expiry day itself starts active.
		{"start of expiry day", "2026-11-25", time.Date(2026, 11, 25, 0, 0, 0, 0, loc), Active},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Customer{ASUPExpires: mustDate(t, tt.expiry)}
			r := Evaluate(c, ByDomain, true, tt.at, Policy{Location: loc})
			if r.Status != tt.want {
				t.Fatalf("at %s expiry %s: %s, want %s", tt.at.In(loc).Format(time.RFC3339), tt.expiry, r.Status, tt.want)
			}
			// The trial date follows the same inclusive rule.
			c = &Customer{TrialExpires: mustDate(t, tt.expiry)}
			want := tt.want
			if want == Active {
				want = Trial
			}
			if r := Evaluate(c, ByDomain, true, tt.at, Policy{Location: loc}); r.Status != want {
				t.Fatalf("trial: %s, want %s", r.Status, want)
			}
		})
	}
}

func TestEvaluateNilLocationIsUTC(t *testing.T) {
	c := &Customer{ASUPExpires: Date{2026, 11, 25}}
	if r := Evaluate(c, ByContact, true, time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC), Policy{}); r.Status != Active {
		t.Fatalf("got %s", r.Status)
	}
	if r := Evaluate(c, ByContact, true, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), Policy{}); r.Status != Lapsed {
		t.Fatalf("got %s", r.Status)
	}
}

func TestStatusKeyword(t *testing.T) {
	want := map[Status]string{Active: "ASUP", Trial: "Trial", Free: "Free", Lapsed: "Lapsed", Unknown: "Unknown", "": "Unknown"}
	for s, k := range want {
		if got := s.Keyword(); got != k {
			t.Errorf("%q.Keyword() = %q, want %q", s, got, k)
		}
	}
}

// Subscriptions end with the support contract: in force only while active.
func TestEvaluateSubscriptions(t *testing.T) {
	loc := adelaide(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, loc)
	for _, tc := range []struct {
		name        string
		asup, trial string
		free5       bool
		want        []string
	}{
		{"active", "2027-06-30", "", false, []string{"reset_portal", "remote_sites"}},
		{"asup ended", "2026-11-19", "", false, nil},
		{"trial", "", "2027-01-01", false, nil},
		{"free", "", "", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Customer{ID: "C1", Company: "Acme", ASUPExpires: mustDate(t, tc.asup), TrialExpires: mustDate(t, tc.trial),
				Free5: tc.free5, ResetPortal: true, RemoteSites: true}
			r := Evaluate(c, ByContact, true, at, Policy{Location: loc})
			if !slices.Equal(r.Subscriptions, tc.want) {
				t.Errorf("Subscriptions = %v, want %v", r.Subscriptions, tc.want)
			}
		})
	}
	c := &Customer{ID: "C1", Company: "Acme", ASUPExpires: mustDate(t, "2027-06-30"), RemoteSites: true}
	if r := Evaluate(c, ByContact, true, at, Policy{Location: loc}); !slices.Equal(r.Subscriptions, []string{"remote_sites"}) {
		t.Errorf("only the held subscription: %v", r.Subscriptions)
	}
}

// Issue 10 item 3: a customer that never held ASUP is told apart from one
// whose ASUP expired (both lapsed, priority 4).
func TestEvaluateNeverPurchased(t *testing.T) {
	loc := adelaide(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, loc)
	for _, c := range []struct {
		name, asup, trial string
		want              bool
	}{
		{"never held", "", "", true},
		{"only an expired trial", "", "2026-01-31", true},
		{"expired", "2026-01-31", "", false},
		{"active", "2027-06-30", "", false},
	} {
		r := Evaluate(&Customer{ID: "C1", ASUPExpires: mustDate(t, c.asup), TrialExpires: mustDate(t, c.trial)}, "contact", true, at, Policy{Location: loc})
		if r.NeverPurchased != c.want {
			t.Errorf("%s: status %s NeverPurchased %v, want %v", c.name, r.Status, r.NeverPurchased, c.want)
		}
	}
}
