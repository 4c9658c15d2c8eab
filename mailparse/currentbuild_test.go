package mailparse

import (
	"slices"
	"testing"
)

// TestCurrentBuild (issue 10 item 1): the labelled field first, then the
// build the customer is on now ("from X to Y", "upgraded to Y", "now on Y"),
// then the highest build of the customer's own text; quoted text and
// examples never count. BuildsMentioned lists every build seen, in order.
func TestCurrentBuild(t *testing.T) {
	tests := []struct {
		name, subject, text string
		build               int
		mentioned           []int
	}{
		{"upgraded from X to Y", "500 error after upgrade", "we upgraded from build 7941 to build 9785 and now the site shows a 500 error", 9785, []int{7941, 9785}},
		{"from X to Y without the word build", "", "The in-place upgrade from 9412 to 9653 stops at the database step.", 9653, []int{9412, 9653}},
		{"upgraded to Y", "", "Build 8973 worked fine. Yesterday we upgraded to 9653 and the list is gone.", 9653, []int{8973, 9653}},
		{"now on Y", "", "We were on build 8973 until last week, we are now on build 9412.", 9412, []int{8973, 9412}},
		{"labelled field wins", "", "We upgraded to build 9785 last night.\n\nBuild Number: 9653\nServer OS: Windows Server 2019", 9653, []int{9785, 9653}},
		{"highest of several", "", "The problem is on build 9412, build 9653 and build 9100.", 9653, []int{9412, 9653, 9100}},
		{"subject counts", "Error after upgrade to build 9653", "no number here", 9653, []int{9653}},
		{"quoted build does not count", "Re: slow lists", "Still slow after the upgrade, see below.\n\n> Build Number: 7941\n> Server OS: Windows Server 2016", 0, nil},
		{"quoted reply below does not count", "Re: slow lists", "Now on build 9653, still slow.\n\nOn Tue, 24 Nov 2026 Support wrote:\nBuild Number: 7941", 9653, []int{9653}},
		{"example does not count", "", "Build Number: (e.g. 9653)\nBrowser: Chrome", 0, nil},
		{"example after for example", "", "Please give the build, for example build 9653.", 0, nil},
		{"each build once", "", "Build 9653 fails; build 9653 also fails on the second server.", 9653, []int{9653}},
		{"OS build is not ours", "", "Windows Server 2019 build 17763, Passwordstate build 9653", 9653, []int{9653}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := extractText(t, tc.subject, tc.text, nil)
			if m.Build != tc.build || !slices.Equal(m.BuildsMentioned, tc.mentioned) {
				t.Errorf("Build = %d, BuildsMentioned = %v; want %d, %v", m.Build, m.BuildsMentioned, tc.build, tc.mentioned)
			}
		})
	}
}

// TestExamplesAreNotData (issue 10 item 2): values after "e.g.", "for
// example", "such as", and a form's prompts left unfilled never count, for
// any field.
func TestExamplesAreNotData(t *testing.T) {
	form := "A new support ticket was submitted from the support web page.\n\n" +
		"Support Ticket ID: CS-004300\nCustomer Name: Carol Jones\nCompany: Acme Pty Ltd\n" +
		"Build Number: 9653\nServer OS: Windows Server 2019\nBrowser: e.g. Edge Version 85.0.564.51\n\n" +
		"Description of what you were doing…\n\nInstructions on how to reproduce the error\n\nScreenshots: none\n"
	m := extractText(t, "Support Ticket CS-004300", form, nil)
	if m.Browser != nil || m.HasDescription || m.HasSteps {
		t.Errorf("unfilled form: browser %+v, description %v, steps %v; want none", m.Browser, m.HasDescription, m.HasSteps)
	}
	if m.Build != 9653 || m.ServerOS != "Windows Server 2019" || m.TicketID != "CS-004300" {
		t.Errorf("filled fields lost: build %d, OS %q, ticket %q", m.Build, m.ServerOS, m.TicketID)
	}
	// The same form filled in counts.
	filled := form[:len(form)-len("Description of what you were doing…\n\nInstructions on how to reproduce the error\n\nScreenshots: none\n")] +
		"Description of what you were doing…\nI was changing the permissions of the Infrastructure list when the page hung and showed an error.\n\n" +
		"Instructions on how to reproduce the error\nOpen the list, change a permission and press Save.\n"
	if m := extractText(t, "", filled, nil); !m.HasDescription || !m.HasSteps {
		t.Errorf("filled form: description %v, steps %v; want both", m.HasDescription, m.HasSteps)
	}
	for _, tc := range []struct{ text string }{
		{"Server OS: such as Windows Server 2016"},
		{"Please tell us your OS, e.g. Windows Server 2022."},
		{"Ticket number (e.g. CS-000123):"},
		{"Browser (for example Chrome 119):"},
		{"Paste your user agent, e.g. Mozilla/5.0 (Windows NT 10.0) Chrome/119.0 Safari/537.36"},
	} {
		m := extractText(t, "", tc.text, nil)
		if m.ServerOS != "" || m.Browser != nil || m.TicketID != "" || m.Build != 0 {
			t.Errorf("%q: OS %q browser %+v ticket %q build %d; want nothing", tc.text, m.ServerOS, m.Browser, m.TicketID, m.Build)
		}
	}
	// A value before the example, or after its sentence, is data.
	if m := extractText(t, "", "We run Windows Server 2019, e.g. on the web server. Our browser is Chrome 119.", nil); m.ServerOS != "Windows Server 2019" || m.Browser == nil {
		t.Errorf("OS %q browser %+v", m.ServerOS, m.Browser)
	}
}
