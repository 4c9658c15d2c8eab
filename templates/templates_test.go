package templates

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const deadline = "2026-11-26 10:30 ACDT (+10:30) = 2026-11-26 00:00 UTC"

func base() Data {
	return Data{
		TicketID:        "CS-004211",
		CustomerName:    "Acme Pty Ltd",
		Status:          "active",
		Priority:        1,
		Deadline:        deadline,
		TargetText:      "2 hours",
		InHours:         true,
		Missing:         []string{"build", "browser", "steps_to_reproduce"},
		SupportHours:    "Monday to Friday, 06:00–18:00 Adelaide time (Australia/Adelaide)",
		SupportedMajors: []int{9, 8},
		OriginalSubject: "Login page shows error 500",
		SalesAddress:    "sales@vendor.test",
	}
}

func TestGolden(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	outOfHours := base()
	outOfHours.InHours = false
	outOfHours.TargetText = "24 hours"
	// sla.FormatDeadline's longest form: the UTC date differs.
	outOfHours.Deadline = "Sunday 29 November 2026, 09:00 ACDT (+10:30) / 22:30 UTC on Saturday 28 November 2026"
	outOfHours.TargetDeadline = "2026-11-28 21:00 ACDT (+10:30) = 2026-11-28 10:30 UTC"
	outOfHours.ExtendedSupport = true
	outOfHours.Missing = nil

	trial := base()
	trial.Status, trial.Priority, trial.Deadline, trial.TargetText = "trial", 2, "", ""
	free := base()
	free.Status, free.Priority, free.Deadline, free.TargetText = "free", 3, "", ""
	unknown := base()
	unknown.Status, unknown.Priority, unknown.Deadline, unknown.TargetText, unknown.CustomerName = "unknown", 4, "", "", ""
	unknown.Missing = []string{"build", "server_os", "browser", "screenshots", "description", "steps_to_reproduce"}
	lapsed := base()
	lapsed.Status, lapsed.Priority, lapsed.Deadline, lapsed.TargetText = "lapsed", 4, "", ""
	lapsed.ASUPExpires = "2026-01-31"
	never := base()
	never.Status, never.Priority, never.Deadline, never.TargetText = "lapsed", 4, "", ""
	never.Product = "Passwordstate"
	// The active customer as configured: company, product, signature,
	// phone support, the deadline in the sender's offset, the zone note.
	configured := base()
	configured.Company, configured.Product, configured.Team = "Click Studios", "Passwordstate", "Support Desk"
	configured.PhoneNumber, configured.PhoneHours = "+61 8 8000 0000", "Monday to Friday, 08:30-17:00 Adelaide time"
	configured.LocalDeadline = "Thursday 26 November 2026, 01:00 (UTC+01:00)"
	configured.ZoneNote = "Adelaide time is UTC+09:30, and UTC+10:30 during daylight saving"
	outOfHoursPlain := outOfHours
	outOfHoursPlain.ExtendedSupport = false
	brief := base()
	brief.Status, brief.Priority, brief.Deadline = "lapsed", 4, ""
	brief.CustomerID, brief.License, brief.ASUPExpires, brief.DaysLapsed = "C300", "enterprise", "2025-06-30", 149
	brief.ExtendedSupport, brief.Subscriptions = true, []string{"reset_portal", "remote_sites"}
	brief.Contacts = []string{"ops@hooli.test", "gavin.belson@hooli.test", "it-admins@hooli.test", "security-team@hooli.test"}
	brief.From = "ops@hooli.test"
	brief.OriginalSubject = "Passwordstate login page throws an error after the weekend's Windows updates on both web servers"
	brief.FirstLines = []string{"Hi team, since the Windows updates on Sunday night the login page shows a 500 error on both of our web servers and nobody can sign in.", "Build 9653."}
	briefNever := brief
	briefNever.ASUPExpires, briefNever.DaysLapsed, briefNever.ExtendedSupport, briefNever.Subscriptions, briefNever.FirstLines = "", 0, false, nil, nil
	unsupported := base()
	unsupported.Build, unsupported.Major = 7123, 7
	noBuild := base()
	noBuild.SupportedMajors = nil
	staff := base()
	staff.Action, staff.From, staff.ServerOS, staff.Browser, staff.Build, staff.Major = "acknowledge", "alice@acme.test", "Windows Server 2019", "Edge 85.0.564.51", 9653, 9
	staff.ExtendedSupport = true
	staff.ReplyAddress, staff.State = "support+cs-m00001.k3x9q2ab7d@vendor.test", "open"
	staff.Notes = []string{"Automatic reply (ack) to alice@acme.test"}

	tests := []struct {
		golden, template string
		d                Data
	}{
		{"ack_active", AckActive, base()},
		{"ack_active_out_of_hours_extended", AckActive, outOfHours},
		{"ack_trial", AckTrial, trial},
		{"ack_free", AckFree, free},
		{"ack_unknown", AckUnknown, unknown},
		{"ack_active_configured", AckActive, configured},
		{"ack_active_out_of_hours", AckActive, outOfHoursPlain},
		{"lapsed", Lapsed, lapsed},
		{"never_purchased", NeverPurchased, never},
		{"sales_brief", SalesBrief, brief},
		{"sales_brief_never", SalesBrief, briefNever},
		{"unsupported", Unsupported, unsupported},
		{"unsupported_no_build", Unsupported, noBuild},
		{"staff", Staff, staff},
		{"staff_empty", Staff, Data{TicketID: "CS-000001", Priority: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := r.Render(tt.template, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			checkBody(t, got)
			path := filepath.Join("testdata", tt.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./templates -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n--- got ---\n%s--- want ---\n%s", tt.template, path, got, want)
			}
		})
	}
}

// flat collapses whitespace so that assertions ignore line wrapping.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// checkBody asserts the normalisation invariants.
func checkBody(t *testing.T, s string) {
	t.Helper()
	if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") {
		t.Errorf("body does not end in exactly one newline: %q", s[max(0, len(s)-20):])
	}
	if strings.HasPrefix(s, "\n") || strings.Contains(s, "\n\n\n") || strings.Contains(s, "\r") {
		t.Errorf("body has stray blank lines or CR:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimRight(l, " \t") != l {
			t.Errorf("trailing space in %q", l)
		}
		if n := len([]rune(l)); n > 78 {
			t.Errorf("line of %d characters (at most 78): %q", n, l)
		}
		if strings.Contains(l, "<no value>") {
			t.Errorf("unset value rendered: %q", l)
		}
	}
}

func TestAckActiveContent(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	d := base()
	got, err := r.Render("ack_active.tmpl", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{deadline, "CS-004211", MissingText("build"), MissingText("browser"), MissingText("steps_to_reproduce"), "2 hours"} {
		if !strings.Contains(got, want) {
			t.Errorf("ack_active lacks %q:\n%s", want, got)
		}
	}
	for _, absent := range []string{MissingText("server_os"), MissingText("screenshots"), MissingText("description"), "Extended Support"} {
		if strings.Contains(got, absent) {
			t.Errorf("ack_active has %q:\n%s", absent, got)
		}
	}
	// Checklist order follows Missing.
	if strings.Index(got, MissingText("build")) > strings.Index(got, MissingText("browser")) {
		t.Error("checklist out of order")
	}
	d.Missing = nil
	got, _ = r.Render(AckActive, d)
	if strings.Contains(got, "please reply with the following") {
		t.Errorf("checklist shown with nothing missing:\n%s", got)
	}
}

func TestExtendedOnlyWhenExtendedSupport(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AckActive, AckTrial, AckFree, AckUnknown, Lapsed, Unsupported} {
		for _, ext := range []bool{false, true} {
			d := base()
			d.ExtendedSupport = ext
			got, err := r.Render(name, d)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(got, "Extended 24x7 Support")
			want := ext && name == AckActive // only the active acknowledgement carries it
			if has != want {
				t.Errorf("%s ExtendedSupport=%v: extended note present=%v", name, ext, has)
			}
			if has && (!strings.Contains(flat(got), "last known good backup") || !strings.Contains(flat(got), "does not monitor")) {
				t.Errorf("extended note incomplete:\n%s", got)
			}
		}
	}
}

func TestStatusSpecificFacts(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []string
	}{
		{AckTrial, []string{"reasonable-efforts", "CS-004211"}},
		{AckFree, []string{"reasonable-efforts", "Free for 5 Users"}},
		{AckUnknown, []string{"registered with us", "company name of the licence holder"}},
		{Lapsed, []string{"unable to provide any assistance", "sales@vendor.test", "quote to renew"}},
		{NeverPurchased, []string{"licence does not include Annual Support", "sales@vendor.test", "quote for Annual Support"}},
		{Unsupported, []string{"build 7123", "version 7", "versions 9 and 8", "upgrade requires active"}},
	}
	for _, tt := range tests {
		d := base()
		d.Build, d.Major = 7123, 7
		got, err := r.Render(tt.name, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(flat(got), w) {
				t.Errorf("%s lacks %q:\n%s", tt.name, w, got)
			}
		}
		if tt.name != AckActive && strings.Contains(got, deadline) {
			t.Errorf("%s promises a deadline", tt.name)
		}
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ack_trial.tmpl"), []byte("Custom trial reply for {{.TicketID}}.\n{{template \"missing\" .}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a template"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Render(AckTrial, base())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "Custom trial reply for CS-004211.\n") || !strings.Contains(got, MissingText("build")) {
		t.Errorf("override not used:\n%s", got)
	}
	if r.Source(AckTrial) != filepath.Join(dir, "ack_trial.tmpl") {
		t.Errorf("Source = %q", r.Source(AckTrial))
	}
	// The others stay embedded.
	got, err = r.Render(AckFree, base())
	if err != nil || !strings.Contains(got, "Free for 5 Users") {
		t.Errorf("embedded ack_free lost: %v\n%s", err, got)
	}
	if r.Source(AckFree) != "embedded:ack_free.tmpl" {
		t.Errorf("Source = %q", r.Source(AckFree))
	}
}

func TestOverrideErrorsNameTheFile(t *testing.T) {
	tests := []struct {
		file, text string
	}{
		{"lapsed.tmpl", "Hello {{.TicketID"},               // parse error
		{"ack_active.tmpl", "Hello {{.NoSuchField}}"},      // execution error
		{"missing.tmpl", "{{template \"nonexistent\" .}}"}, // broken partial
		{"ack_activ.tmpl", "typo in the name"},             // unknown name
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(dir)
		if err == nil {
			t.Errorf("%s: no error", tt.file)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, tt.file)) {
			t.Errorf("%s: error does not name the file: %v", tt.file, err)
		}
	}
	if _, err := New(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("missing override dir accepted")
	}
}

func TestRenderUnknown(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render("nope", base()); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("err = %v", err)
	}
	if _, err := r.Render("", base()); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("err = %v", err)
	}
}

func TestTemplateName(t *testing.T) {
	tests := []struct{ action, status, want string }{
		{"acknowledge", "active", "ack_active"},
		{"acknowledge", "trial", "ack_trial"},
		{"acknowledge", "free", "ack_free"},
		{"acknowledge", "unknown", "ack_unknown"},
		{"acknowledge", "lapsed", "ack_unknown"},
		{"acknowledge", "", "ack_unknown"},
		{"lapsed_notice", "lapsed", "lapsed"},
		{"unsupported_version", "active", "unsupported"},
		{"follow_up", "active", ""},
		{"suppress", "active", ""},
	}
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got := TemplateName(tt.action, tt.status)
		if got != tt.want {
			t.Errorf("TemplateName(%q,%q) = %q, want %q", tt.action, tt.status, got, tt.want)
		}
		if got != "" {
			if _, err := r.Render(got, base()); err != nil {
				t.Errorf("TemplateName gave an unrenderable %q: %v", got, err)
			}
		}
	}
}

func TestHelpers(t *testing.T) {
	if got := joinMajors([]int{10, 9, 8}); got != "10, 9 and 8" {
		t.Errorf("joinMajors = %q", got)
	}
	if got := joinMajors([]int{9}); got != "9" {
		t.Errorf("joinMajors = %q", got)
	}
	if got := MissingText("weird"); got != "weird" {
		t.Errorf("MissingText = %q", got)
	}
	if got := normalise("\n\r\nA  \r\n\n\n\nB\t\n\n"); got != "A\n\nB\n" {
		t.Errorf("normalise = %q", got)
	}
}

// Issue 10 item 9: out of hours, an Extended Support customer is told that
// the on-call engineer does not watch email, to call the Extended Support
// line for a site-down emergency after restoring the last good backup, and
// that the emailed request follows the standard out-of-hours guarantee.
func TestExtendedOutOfHours(t *testing.T) {
	r, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []bool{true, false} {
		d := base()
		d.ExtendedSupport, d.InHours = true, in
		got, err := r.Render(AckActive, d)
		if err != nil {
			t.Fatal(err)
		}
		f := flat(got)
		for _, w := range []string{"does not monitor email", "restore it from your last known good backup", "call the Extended Support phone number"} {
			if !strings.Contains(f, w) {
				t.Errorf("in hours %v: lacks %q:\n%s", in, w, got)
			}
		}
		if g := strings.Contains(f, "This emailed request follows the standard out-of-hours guarantee"); g == in {
			t.Errorf("in hours %v: standard out-of-hours guarantee sentence present = %v", in, g)
		}
	}
}
