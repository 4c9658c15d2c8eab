package poller

import (
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{Address: "imap.vendor.test:993", Username: "support", Password: "x", SpoolDir: t.TempDir()}
	}
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"starttls", func(c *Config) { c.TLS = "STARTTLS" }, ""},
		{"none on 127.0.0.1", func(c *Config) { c.TLS, c.Address = "none", "127.0.0.1:143" }, ""},
		{"none on 127.1.2.3", func(c *Config) { c.TLS, c.Address = "none", "127.1.2.3:143" }, ""},
		{"none on ::1", func(c *Config) { c.TLS, c.Address = "none", "[::1]:143" }, ""},
		{"none on localhost", func(c *Config) { c.TLS, c.Address = "none", "localhost:143" }, ""},
		{"none on a LAN address", func(c *Config) { c.TLS, c.Address = "none", "10.0.0.1:143" }, "imap.tls"},
		{"none on a name", func(c *Config) { c.TLS = "none" }, "imap.tls"},
		{"none on localhost.evil.test", func(c *Config) { c.TLS, c.Address = "none", "localhost.evil.test:143" }, "imap.tls"},
		{"unknown tls", func(c *Config) { c.TLS = "ssl" }, "imap.tls"},
		{"skip verify", func(c *Config) { c.TLSConfig = &tls.Config{InsecureSkipVerify: true} }, "imap.tls"},
		{"no address", func(c *Config) { c.Address = "" }, "imap.address"},
		{"no port", func(c *Config) { c.Address = "imap.vendor.test" }, "imap.address"},
		{"no user", func(c *Config) { c.Username = "" }, "imap.username"},
		{"idle restart too long", func(c *Config) { c.IdleRestart = 30 * 60e9 }, "imap.idle_restart"},
		{"negative poll", func(c *Config) { c.PollInterval = -1 }, "imap.poll_interval"},
		{"read timeout below watchdog", func(c *Config) { c.WatchdogInterval, c.ReadTimeout = 20e9, 10e9 }, "imap.read_timeout"},
		{"backoff inverted", func(c *Config) { c.BackoffMin, c.BackoffMax = 10e9, 1e9 }, "imap.backoff_max"},
		{"bad spool", func(c *Config) { c.SpoolDir = "/nonexistent/spool" }, "imap.spool_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(&cfg)
			_, err := New(cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New: %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestNewCreatesSpoolDir(t *testing.T) {
	p, err := New(Config{Address: "127.0.0.1:143", TLS: "none", Username: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if p.SpoolDir() == "" {
		t.Fatal("no spool dir")
	}
	t.Cleanup(func() { _ = os.RemoveAll(p.SpoolDir()) })
}

func TestValidKeyword(t *testing.T) {
	for kw, want := range map[string]bool{
		"P1": true, "ASUP": true, "$Label1": true, "Follow-Up": true,
		"": false, "bad word": false, "\\Seen": false, "a(b": false, "x*": false, "é": false, "a\r\nb": false,
		strings.Repeat("k", 129): false,
	} {
		if got := validKeyword(kw); got != want {
			t.Errorf("validKeyword(%q) = %v, want %v", kw, got, want)
		}
	}
}

func FuzzValidKeyword(f *testing.F) {
	for _, s := range []string{"P1", "bad word", "\\Seen", "a]b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, kw string) {
		if !validKeyword(kw) {
			return
		}
		// A valid keyword must be sendable as a bare IMAP atom.
		if strings.ContainsAny(kw, " ()%*\"\\]{\r\n") {
			t.Fatalf("validKeyword accepted %q", kw)
		}
	})
}

func TestParseStartAt(t *testing.T) {
	adl, err := time.LoadLocation("Australia/Adelaide")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		want StartAt
		err  bool
	}{
		{"", StartAt{}, false},
		{"now", StartAt{Mode: StartNow}, false},
		{" ALL ", StartAt{Mode: StartAll}, false},
		{"2026-01-31", StartAt{Mode: StartDate, Since: time.Date(2026, 1, 31, 0, 0, 0, 0, adl)}, false},
		{"2026-01-31T10:00:00Z", StartAt{Mode: StartDate, Since: time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)}, false},
		{"yesterday", StartAt{}, true},
		{"2026-02-30", StartAt{}, true},
	}
	for _, c := range cases {
		got, err := ParseStartAt(c.in, adl)
		if (err != nil) != c.err || got.Mode != c.want.Mode || !got.Since.Equal(c.want.Since) {
			t.Errorf("ParseStartAt(%q) = %+v, %v; want %+v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}
