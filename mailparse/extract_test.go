package mailparse

import (
	"strings"
	"testing"
)

func extractText(t testing.TB, subject, text string, opts *Options) *Message {
	t.Helper()
	m := &Message{Subject: subject, Text: text}
	testParser(t, opts).Extract(m)
	return m
}

func TestExtractTicket(t *testing.T) {
	tests := []struct {
		name, subject, text, pattern, want string
	}{
		{"subject", "[CS-004211] Re: help", "", "", "CS-004211"},
		{"body label", "help", "Support Ticket ID: CS-004211\n", "", "CS-004211"},
		{"lower case", "re: cs-123456 broken", "", "", "CS-123456"},
		{"subject wins over body", "CS-000001", "CS-000002", "", "CS-000001"},
		{"quoted older id in body", "RE: question", "Thanks\n\n> Your ticket number is CS-004209.\n", "", "CS-004209"},
		{"too many digits", "CS-0042110 is not an id", "", "", ""},
		{"glued prefix", "XCS-004211", "", "", ""},
		{"too few digits", "CS-04211", "", "", ""},
		{"none", "Hello", "no ticket here", "", ""},
		{"custom pattern", "[T#42] hello", "", `T#\d+`, "T#42"},
		{"custom pattern upper-cased", "ref inc-77", "", `INC-\d+`, "INC-77"},
		{"first in body", "x", "CS-111111 then CS-222222", "", "CS-111111"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := extractText(t, tc.subject, tc.text, &Options{TicketPattern: tc.pattern})
			if m.TicketID != tc.want {
				t.Errorf("TicketID = %q, want %q", m.TicketID, tc.want)
			}
		})
	}
}

// TestNewBadTicketPattern: a ticket pattern that does not compile, or
// matches the empty string, is New's error, naming the pattern.
func TestNewBadTicketPattern(t *testing.T) {
	for _, pat := range []string{`CS-(\d{6}`, `\d*`} {
		p, err := New(Options{TicketPattern: pat})
		if err == nil || p != nil || !strings.Contains(err.Error(), pat) {
			t.Errorf("pattern %q: New = %v, %v; want an error naming it", pat, p, err)
		}
	}
}

func TestExtractBuild(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"Build Number: 8973", 8973},
		{"build number:8973", 8973},
		{"BUILD NUMBER : 8973", 8973},
		{"We are on Build 8973 now", 8973},
		{"build no. 9653", 9653},
		{"Build No: 9653", 9653},
		{"Build #9100", 9100},
		{"build# 9100", 9100},
		{"the build number is 8973.", 8973},
		{"Passwordstate build 9653, web server Win2019", 9653},
		{"Passwordstate 9.8 (Build 9800)", 9800},
		{"Build Number\t8973", 8973},                // HTML table cells
		{"Build Number\n\n9653\n\nServer OS", 9653}, // Outlook's plain version of a table
		{"Build: 10123", 10123},                     // five digits
		{"build version = 9412", 9412},
		{"Build 123", 0},                             // too short
		{"Build 1234567", 0},                         // too long
		{"We rebuild 8973 reports nightly", 0},       // not the word build
		{"Windows Server 2019 build 17763", 0},       // OS build
		{"OS Build 19045.3693", 0},                   // OS build with revision
		{"Windows 10 build 19045", 0},                // OS build
		{"on Windows Server 2019, build 9653", 9653}, // OS mentioned before, separated
		{"build 17763.1234", 0},                      // looks like an OS revision
		{"no build mentioned, version 9.6", 0},
		{"", 0},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			if got := extractText(t, "", tc.text, nil).Build; got != tc.want {
				t.Errorf("Build(%q) = %d, want %d", tc.text, got, tc.want)
			}
		})
	}
	if got := extractText(t, "Error after upgrade to build 9653", "no number here", nil).Build; got != 9653 {
		t.Errorf("build in subject: got %d", got)
	}
}

func TestExtractServerOS(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"Server OS: Windows Server 2019", "Windows Server 2019"},
		{"Web Server OS - Windows Server 2016", "Windows Server 2016"},
		{"Passwordstate is running on Windows Server 2022", "Windows Server 2022"},
		{"web server is Win2019.", "Windows Server 2019"},
		{"Server OS: 2012 R2", "Windows Server 2012 R2"},
		{"Windows Server 2012 R2 Standard", "Windows Server 2012 R2"},
		{"Windows Server 2012", "Windows Server 2012"},
		{"windows 2016 datacenter", "Windows Server 2016"},
		{"WIN2K16", "Windows Server 2016"},
		{"Server OS\tWindows Server 2022 Datacenter", "Windows Server 2022"},
		{"server 2025", "Windows Server 2025"},
		{"Server OS: Windows 11", "Windows 11"},
		{"OS: Windows 10 Pro", "Windows 10"},
		{"I use Chrome on Windows 11 workstations", ""},      // a desktop, not the server
		{"We use SQL Server 2019 for the database", ""},      // a database, not the OS
		{"Windows Server 2008 R2", "Windows Server 2008 R2"}, // outside the list: canonical name
		{"released in 2019", ""},
		{"darwin2019", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			if got := extractText(t, "", tc.text, nil).ServerOS; got != tc.want {
				t.Errorf("ServerOS(%q) = %q, want %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestExtractServerOSConfigured(t *testing.T) {
	opts := &Options{ServerOSes: []string{"Windows Server 2019 (64-bit)", "Ubuntu 22.04"}}
	// A decorated configured name is not a plain Windows version: it is
	// looked up verbatim, and a Windows version found in the text keeps its
	// canonical name.
	if got := extractText(t, "", "Server OS: Win 2019", opts).ServerOS; got != "Windows Server 2019" {
		t.Errorf("got %q, want canonical name", got)
	}
	opts = &Options{ServerOSes: []string{"windows server 2019", "Ubuntu 22.04"}}
	if got := extractText(t, "", "Server OS: Win 2019", opts).ServerOS; got != "windows server 2019" {
		t.Errorf("configured spelling: got %q, want %q", got, "windows server 2019")
	}
	if got := extractText(t, "", "The web server runs ubuntu 22.04", opts).ServerOS; got != "Ubuntu 22.04" {
		t.Errorf("non-Windows configured name: got %q", got)
	}
}

func TestExtractBrowser(t *testing.T) {
	tests := []struct {
		text          string
		name, version string
	}{
		{"Browser: Edge Version 85.0.564.51", "Edge", "85.0.564.51"},
		{"Microsoft Edge 120.0.2210.91", "Edge", "120.0.2210.91"},
		{"Chrome 118.0.5993.88", "Chrome", "118.0.5993.88"},
		{"Google Chrome Version 119.0.6045.105 (Official Build) (64-bit)", "Chrome", "119.0.6045.105"},
		{"Firefox 119.0", "Firefox", "119.0"},
		{"Safari 17.1 on macOS", "Safari", "17.1"},
		{"Opera 104", "Opera", "104"},
		{"Internet Explorer 11", "Internet Explorer", "11"},
		{"IE11", "Internet Explorer", "11"},
		{"using IE 9 still", "Internet Explorer", "9"},
		{"Firefox", "Firefox", ""},
		{"Build 8973 on Windows Server 2019, Edge.", "Edge", ""},
		{"Browser: Edge", "Edge", ""},
		{"the extension works in chrome but Firefox 120.0 fails", "Firefox", "120.0"},
		// Pasted User-Agent strings.
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/85.0.4183.102 Safari/537.36 Edg/85.0.564.51", "Edge", "85.0.564.51"},
		{"Edg/85.0.564.51", "Edge", "85.0.564.51"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.5993.88 Safari/537.36", "Chrome", "118.0.5993.88"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36 OPR/104.0.0.0", "Opera", "104.0.0.0"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:119.0) Gecko/20100101 Firefox/119.0", "Firefox", "119.0"},
		{"Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko", "Internet Explorer", "11"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari", "17.1"},
		// Not a browser.
		{"This is an edge case on the cutting edge", "", ""},
		{"ie. the field", "", ""},
		{"we went to the opera", "", ""},
		{"chromebook and chromium", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			b := extractText(t, "", tc.text, nil).Browser
			if tc.name == "" {
				if b != nil {
					t.Errorf("Browser(%q) = %+v, want none", tc.text, *b)
				}
				return
			}
			if b == nil {
				t.Fatalf("Browser(%q) = nil, want %s %s", tc.text, tc.name, tc.version)
			}
			if b.Name != tc.name || b.Version != tc.version {
				t.Errorf("Browser(%q) = %s %q, want %s %q", tc.text, b.Name, b.Version, tc.name, tc.version)
			}
		})
	}
}

func TestExtractDescription(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
	}{
		{"prose", "Hi,\n\nWhen we edit the permissions of a password list and click Save, the page spins and then shows an error.\n\nThanks,\nBob", true},
		{"description section", "Build Number: 8973\nDescription: Save fails with an error\n", true},
		{"description on next line", "Description:\nThe export never starts.\n", true},
		{"only fields", "Hi,\n\nBuild Number: 8973\nServer OS: Windows Server 2019\nBrowser: Edge 85\n\nThanks,\nBob Smith\nIT Manager, Acme Pty Ltd, Level 3, 123 Main Street, Adelaide SA 5000", false},
		{"short", "Please see attached.\n\nRegards,\nBob", false},
		{"quoted prose does not count", "Same problem again.\n\n> When we edit the permissions of a password list and click Save, the page spins and then shows an error.", false},
		{"signature cut", "Help!\n-- \nBob Smith, Senior Systems Engineer at Acme Pty Ltd, phone number one two three four five six", false},
		{"empty description", "Description:\n\nBuild: 8973", false},
		{"greeting only", "Hello support team,\n\nThanks", false},
		{"japanese prose", "パスワードリストの共有設定を変更するとエラーが発生しましたと表示され設定が保存されません。", true},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := extractText(t, "", tc.text, nil).HasDescription; got != tc.want {
				t.Errorf("HasDescription = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExtractSteps(t *testing.T) {
	tests := []struct {
		name, text string
		want       bool
	}{
		{"phrase", "Steps to reproduce: open the list and click save", true},
		{"to reproduce label", "To reproduce:\nopen the page", true},
		{"step 1", "Step 1 open the page, then it fails", true},
		{"numbered", "1. Go to Hosts\n2. Click Add Host\n3. Save is greyed out", true},
		{"numbered parens", "1) Go to Hosts\n2) Click Add", true},
		{"bulleted with action", "- open the login page\n- click the extension icon", true},
		{"html list", "Steps:\n1. Administration\n2. Select domain", true},
		{"single item", "1. Go to Hosts and it fails", false},
		{"numbered not from 1", "3. something\n4. other", false},
		{"bullets without actions", "- Passwordstate\n- VPN\n- File shares", false},
		{"bulleted fields", "- Build: 9653\n- Server OS: Windows Server 2019", false},
		{"unable to reproduce is not steps", "We were unable to reproduce it on our side.", false},
		{"quoted steps ignored", "Thanks!\n> 1. Go to Hosts\n> 2. Click Add", false},
		{"none", "It does not work, please help.", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := extractText(t, "", tc.text, nil).HasSteps; got != tc.want {
				t.Errorf("HasSteps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestExtractNilAndReset(t *testing.T) {
	p := testParser(t, nil)
	p.Extract(nil) // must not panic
	m := &Message{TicketID: "CS-999999", Build: 1234, HasSteps: true}
	p.Extract(m)
	if m.TicketID != "" || m.Build != 0 || m.HasSteps {
		t.Errorf("Extract kept stale fields: %+v", m)
	}
	if m.Problems == nil {
		t.Error("Problems is nil")
	}
}

// TestDefault: Default's options compile (it panics otherwise).
func TestDefault(t *testing.T) {
	m := &Message{Subject: "Re: [cs-000042]"}
	if Default().Extract(m); m.TicketID != "CS-000042" {
		t.Errorf("TicketID = %q", m.TicketID)
	}
}
