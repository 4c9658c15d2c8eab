package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "supportd.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The example file documents every key with its default: it must load, validate,
// and equal DefaultConfig, so it can never rot.
func TestExampleConfigLoadsAndValidates(t *testing.T) {
	c, used, err := Load("../../config.example.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if used == "" {
		t.Fatal("example file not reported as used")
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config.example.yaml does not validate: %v", err)
	}
	// The example spells out empty lists the defaults leave nil: compare as JSON
	// with null and [] taken as equal.
	norm := func(c Config) string {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), "null", "[]")
	}
	if got, want := norm(c), norm(Default()); got != want {
		t.Errorf("config.example.yaml differs from DefaultConfig:\nexample: %s\ndefault: %s", got, want)
	}
}

func TestExampleConfigNamesEveryKey(t *testing.T) {
	raw, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	collectKeys("", reflect.TypeOf(Config{}), &keys)
	for _, k := range keys {
		last := k[strings.LastIndexByte(k, '.')+1:]
		if !strings.Contains(string(raw), last+":") {
			t.Errorf("config.example.yaml does not mention key %s", k)
		}
	}
}

func collectKeys(prefix string, t reflect.Type, out *[]string) {
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("mapstructure")
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		if t.Field(i).Type.Kind() == reflect.Struct {
			collectKeys(key, t.Field(i).Type, out)
			continue
		}
		*out = append(*out, key)
	}
}

func TestUnknownKeyIsNamed(t *testing.T) {
	p := writeConfig(t, "support:\n  sales_adress: x@y.test\n")
	_, _, err := Load(p, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "support.sales_adress") {
		t.Fatalf("want an error naming support.sales_adress, got %v", err)
	}
}

// support.reply_name_from_staff (§10) is a boolean, off by default, also
// settable from the environment; anything else is an error naming the key.
func TestReplyNameFromStaffKey(t *testing.T) {
	if Default().Support.ReplyNameFromStaff {
		t.Error("support.reply_name_from_staff is on by default")
	}
	c, _, err := Load(writeConfig(t, "support:\n  reply_name_from_staff: true\n"), nil, nil)
	if err != nil || !c.Support.ReplyNameFromStaff {
		t.Errorf("reply_name_from_staff: true loaded as %v (%v)", c.Support.ReplyNameFromStaff, err)
	}
	c, _, err = Load(writeConfig(t, "support:\n  sales_address: sales@vendor.test\n"), nil, []string{"SUPPORTD_SUPPORT_REPLY_NAME_FROM_STAFF=true"})
	if err != nil || !c.Support.ReplyNameFromStaff {
		t.Errorf("SUPPORTD_SUPPORT_REPLY_NAME_FROM_STAFF=true loaded as %v (%v)", c.Support.ReplyNameFromStaff, err)
	}
	if _, _, err := Load(writeConfig(t, "support:\n  reply_name_from_staff: maybe\n"), nil, nil); err == nil || !strings.Contains(err.Error(), "reply_name_from_staff") {
		t.Errorf("reply_name_from_staff: maybe: want an error naming the key, got %v", err)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	p := writeConfig(t, "store:\n  path: from-file.db\nimap:\n  poll_interval: 45s\nlimits:\n  max_message_bytes: 10MiB\n")
	c, _, err := Load(p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "from-file.db" || c.IMAP.PollInterval != 45*time.Second || c.Limits.MaxMessageBytes != 10<<20 {
		t.Fatalf("file values not applied: %+v %+v %+v", c.Store, c.IMAP.PollInterval, c.Limits.MaxMessageBytes)
	}
	env := []string{"SUPPORTD_STORE_PATH=from-env.db", "SUPPORTD_IMAP_PASSWORD=s3cret", "SUPPORTD_SUPPORT_ADDRESSES=a@v.test,b@v.test", "PATH=/bin"}
	c, _, err = Load(p, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "from-env.db" || c.IMAP.Password != "s3cret" {
		t.Fatalf("env not applied: %q %q", c.Store.Path, c.IMAP.Password)
	}
	if !reflect.DeepEqual(c.Support.Addresses, []string{"a@v.test", "b@v.test"}) {
		t.Fatalf("list from env: %q", c.Support.Addresses)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("store", "", "")
	if err := fs.Parse([]string{"--store", "from-flag.db"}); err != nil {
		t.Fatal(err)
	}
	c, _, err = Load(p, fs, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "from-flag.db" {
		t.Fatalf("flag must win, got %q", c.Store.Path)
	}
	// A variable that names no key (a typo, or a harness's own SUPPORTD_TEST_*) must
	// not stop the daemon, but must be named in the warnings.
	c, _, err = Load(p, nil, []string{"SUPPORTD_STORE_PATHH=x", "SUPPORTD_REQUIRE_SERVERS=1"})
	if err != nil {
		t.Fatalf("unknown env var must not be fatal: %v", err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "SUPPORTD_STORE_PATHH") || !strings.Contains(w, "SUPPORTD_REQUIRE_SERVERS") {
		t.Fatalf("unknown env vars must be named in the warnings, got %q", w)
	}
	if c.Store.Path == "x" {
		t.Fatal("a misspelt variable must not set a key")
	}
}

func TestConfigPathFromEnv(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "custom.yaml")
	if err := os.WriteFile(p, []byte("store: {path: from-env-file.db}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, used, err := Load("", nil, []string{"SUPPORTD_CONFIG=" + p})
	if err != nil {
		t.Fatal(err)
	}
	if used != p || c.Store.Path != "from-env-file.db" {
		t.Fatalf("SUPPORTD_CONFIG must name the file: used %q, store.path %q", used, c.Store.Path)
	}
	if len(c.Warnings()) > 0 && strings.Contains(strings.Join(c.Warnings(), ""), "SUPPORTD_CONFIG") {
		t.Fatalf("SUPPORTD_CONFIG is not an unknown key: %q", c.Warnings())
	}
	other := filepath.Join(dir, "other.yaml")
	if err := os.WriteFile(other, []byte("store: {path: from-flag-file.db}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, used, err = Load(other, nil, []string{"SUPPORTD_CONFIG=" + p}); err != nil || used != other || c.Store.Path != "from-flag-file.db" {
		t.Fatalf("--config must win over SUPPORTD_CONFIG: used %q, store.path %q, err %v", used, c.Store.Path, err)
	}
	if _, _, err := Load("", nil, []string{"SUPPORTD_CONFIG=" + filepath.Join(dir, "absent.yaml")}); err == nil {
		t.Fatal("a SUPPORTD_CONFIG naming no file must be an error")
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"clock", func(c *Config) { c.SLA.Clock = "wallclock" }, "sla.clock: must be elapsed or business"},
		{"tz", func(c *Config) { c.Support.Timezone = "Mars/Olympus" }, "support.timezone"},
		{"day", func(c *Config) { c.Support.Hours.Days = []string{"mon", "funday"} }, "support.hours.days[1]"},
		{"open", func(c *Config) { c.Support.Hours.Open = "6am" }, "support.hours.open"},
		{"holiday", func(c *Config) { c.Support.Holidays.Extra = []string{"2026-13-01"} }, "support.holidays.extra[0]"},
		{"imap tls none remote", func(c *Config) { c.IMAP.TLS = "none" }, "imap.tls: none is accepted only for loopback"},
		{"smtp tls bad", func(c *Config) { c.SMTP.TLS = "ssl" }, "smtp.tls: must be implicit, starttls or none"},
		{"versions", func(c *Config) { c.Versions[1].Released = "yesterday" }, "versions[1].released"},
		{"overlap", func(c *Config) { c.Versions[1].LastBuild = 9500 }, "versions[1]"},
		{"addr", func(c *Config) { c.Support.SalesAddress = "sales" }, "support.sales_address"},
		{"rule status", func(c *Config) { c.Routing.Rules = []RuleConfig{{Statuses: []string{"gold"}}} }, "routing.rules[0].statuses"},
		{"pattern", func(c *Config) { c.Parse.TicketPattern = "CS-(" }, "parse.ticket_pattern"},
		{"pattern misses our ids", func(c *Config) { c.Parse.TicketPattern = `TKT-\d{5}` }, "parse.ticket_pattern"},
		{"rate", func(c *Config) { c.Limits.AutoRepliesPerSenderPerDay = 0 }, "limits.auto_replies_per_sender_per_day"},
		{"rate above what the store counts", func(c *Config) { c.Limits.AutoRepliesPerSenderPerDay = 5000 }, "limits.auto_replies_per_sender_per_day"},
		{"unknown per domain", func(c *Config) { c.Limits.UnknownRepliesPerDomain = 0 }, "limits.unknown_replies_per_domain_per_hour"},
		{"unknown per hour", func(c *Config) { c.Limits.UnknownRepliesPerHour = -1 }, "limits.unknown_replies_per_hour"},
		{"log", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"start_at", func(c *Config) { c.IMAP.StartAt = "yesterday" }, "imap.start_at"},
		{"both passwords", func(c *Config) { c.IMAP.Password, c.IMAP.PasswordFile = "a", "/f" }, "imap.password_file"},
		{"phone hours", func(c *Config) { c.Support.Phone.Number, c.Support.Phone.Hours.Open = "+61 8 8000 0000", "8.30" }, "support.phone.hours.open"},
		{"signature line", func(c *Config) { c.Support.Signature = strings.Repeat("x", 79) }, "support.signature"},
		{"sent special-use", func(c *Config) { c.IMAP.SentMailbox = `\Drafts` }, "imap.sent_mailbox"},
		{"sent is the inbox", func(c *Config) { c.IMAP.SentMailbox = "inbox" }, "imap.sent_mailbox"},
		{"port out of range", func(c *Config) { c.IMAP.Address = "imap.vendor.test:99999" }, "imap.address"},
		{"no port", func(c *Config) { c.SMTP.Address = "smtp.vendor.test:" }, "smtp.address"},
		{"verified senders, nobody trusted", func(c *Config) {
			c.Security.RequireVerifiedSender, c.Security.TrustedAuthservIDs = true, nil
		}, "security.trusted_authserv_ids"},
		// Addresses of ours, also with a +tag, bring staff and sales mail back into the inbox.
		{"staff queue with a +tag of ours", func(c *Config) { c.Support.StaffQueue = "Support+queue@vendor.test" }, "support.staff_queue"},
		{"escalation to ours", func(c *Config) { c.Support.EscalationAddress = "support@vendor.test" }, "support.escalation_address"},
		{"sales is ours", func(c *Config) { c.Support.SalesAddress = "support+sales@vendor.test" }, "support.sales_address"},
		{"staff member is ours", func(c *Config) { c.Support.Staff = []string{"@staff.vendor.test", "support@vendor.test"} }, "support.staff[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
	c := Default()
	c.IMAP.Address, c.IMAP.TLS = "127.0.0.1:1143", "none"
	if err := c.Validate(); err != nil {
		t.Fatalf("tls none on loopback must be accepted: %v", err)
	}
	c.SMTP.Address = "smtp.vendor.test:submission"
	if err := c.Validate(); err != nil {
		t.Fatalf("a port given by its service name must be accepted: %v", err)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"50MiB": 50 << 20, "10MB": 10_000_000, "1024": 1024, "512KiB": 512 << 10, "1GiB": 1 << 30} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseByteSize("lots"); err == nil {
		t.Error("ParseByteSize(lots) must fail")
	}
}

func TestTicketPatternMayAddLegacyIDs(t *testing.T) {
	c := Default()
	c.Parse.TicketPattern = `(?:CS|TKT)-M?\d{5,6}`
	if err := c.Validate(); err != nil {
		t.Fatalf("a pattern that also matches legacy ids must be accepted: %v", err)
	}
}

func TestSupportHoursText(t *testing.T) {
	cases := []struct {
		days []string
		tz   string
		want string
	}{
		{[]string{"mon", "tue", "wed", "thu", "fri"}, "Australia/Adelaide", "Monday to Friday, 06:00–18:00 Adelaide time (Australia/Adelaide)"},
		{[]string{"fri", "mon", "tue"}, "Australia/Adelaide", "Monday, Tuesday and Friday, 06:00–18:00 Adelaide time (Australia/Adelaide)"},
		{[]string{"mon", "wed", "sat", "sun"}, "America/New_York", "Monday, Wednesday, Saturday and Sunday, 06:00–18:00 New York time (America/New_York)"},
		{[]string{"sun"}, "UTC", "Sunday, 06:00–18:00 UTC"},
	}
	for _, tc := range cases {
		got := SupportHoursText(HoursConfig{Days: tc.days, Open: "06:00", Close: "18:00"}, tc.tz)
		if got != tc.want {
			t.Errorf("%v %s:\n got %q\nwant %q", tc.days, tc.tz, got, tc.want)
		}
	}
}
