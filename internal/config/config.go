package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"supportd/entitlement"
	"supportd/internal/loopback"
	"supportd/mailparse"
	"supportd/sla"
	"supportd/store"
	"supportd/triage"
	"supportd/versions"
)

// Config is the whole configuration of docs/design.md §9. Key names (the mapstructure tags) are
// a contract: operators and tests rely on them. Zero values mean the default of
// DefaultConfig.
type Config struct {
	Support   SupportConfig   `mapstructure:"support"`
	SLA       SLAConfig       `mapstructure:"sla"`
	Tickets   TicketsConfig   `mapstructure:"tickets"`
	Versions  []VersionConfig `mapstructure:"versions"`
	Security  SecurityConfig  `mapstructure:"security"`
	Limits    LimitsConfig    `mapstructure:"limits"`
	Parse     ParseConfig     `mapstructure:"parse"`
	Routing   RoutingConfig   `mapstructure:"routing"`
	Templates TemplatesConfig `mapstructure:"templates"`
	Store     StoreConfig     `mapstructure:"store"`
	IMAP      IMAPConfig      `mapstructure:"imap"`
	SMTP      SMTPConfig      `mapstructure:"smtp"`
	Metrics   MetricsConfig   `mapstructure:"metrics"`
	Log       LogConfig       `mapstructure:"log"`
	// AccountList is accounts: (accounts.go); empty: the top-level imap,
	// smtp and support.addresses are the one account.
	AccountList []AccountConfig `mapstructure:"accounts"`

	ignoredEnv []string // SUPPORTD_* variables that name no key (see Warnings)
	mailboxSet bool     // imap.mailbox was given (file, environment), not defaulted
}

type SupportConfig struct {
	Addresses    []string `mapstructure:"addresses"`
	SalesAddress string   `mapstructure:"sales_address"`
	StaffQueue   string   `mapstructure:"staff_queue"`
	// Staff are the staff addresses and "@domain" entries whose replies to a
	// staff copy are relayed to the customer (§10).
	Staff []string `mapstructure:"staff"`
	// EscalationAddress receives SLA warnings and breach notices ("" = the
	// staff queue).
	EscalationAddress string         `mapstructure:"escalation_address"`
	Timezone          string         `mapstructure:"timezone"`
	Hours             HoursConfig    `mapstructure:"hours"`
	Holidays          HolidaysConfig `mapstructure:"holidays"`
	// SalesBrief: with each lapsed or never-purchased notice, an internal
	// brief to sales_address (docs/design.md §11).
	SalesBrief bool `mapstructure:"sales_brief"`
	// ReplyNameFromStaff: a relayed staff reply's From display name carries
	// the staff member's name ("Erin Engineer via Support"); the address
	// stays the support address (docs/design.md §10).
	ReplyNameFromStaff bool `mapstructure:"reply_name_from_staff"`
	// Phone is priority phone support, told to active customers when a
	// number is set.
	Phone PhoneConfig `mapstructure:"phone"`
	// Company, Product and Signature appear in every reply.
	Company   string `mapstructure:"company"`
	Product   string `mapstructure:"product"`
	Signature string `mapstructure:"signature"`
}

type PhoneConfig struct {
	Number string      `mapstructure:"number"`
	Hours  HoursConfig `mapstructure:"hours"`
}

type HoursConfig struct {
	Days  []string `mapstructure:"days"`
	Open  string   `mapstructure:"open"`
	Close string   `mapstructure:"close"`
}

type HolidaysConfig struct {
	Region  string   `mapstructure:"region"`
	Extra   []string `mapstructure:"extra"`
	Removed []string `mapstructure:"removed"`
}

type SLAConfig struct {
	Clock            string        `mapstructure:"clock"`
	InHours          time.Duration `mapstructure:"in_hours"`
	OutOfHours       time.Duration `mapstructure:"out_of_hours"`
	OutOfHoursTarget time.Duration `mapstructure:"out_of_hours_target"`
	WarnBefore       time.Duration `mapstructure:"warn_before"`
}

// TicketsConfig: the ids supportd issues and when a closed ticket reopens.
type TicketsConfig struct {
	IDFormat   string `mapstructure:"id_format"`
	ReopenDays int    `mapstructure:"reopen_days"`
}

type VersionConfig struct {
	Major      int    `mapstructure:"major"`
	FirstBuild int    `mapstructure:"first_build"`
	LastBuild  int    `mapstructure:"last_build"`
	Released   string `mapstructure:"released"`
}

type SecurityConfig struct {
	RequireVerifiedSender bool     `mapstructure:"require_verified_sender"`
	TrustedAuthservIDs    []string `mapstructure:"trusted_authserv_ids"`
	PublicDomains         []string `mapstructure:"public_domains"`
}

type LimitsConfig struct {
	MaxMessageBytes            ByteSize `mapstructure:"max_message_bytes"`
	MaxHeaderBytes             ByteSize `mapstructure:"max_header_bytes"`
	MaxParts                   int      `mapstructure:"max_parts"`
	MaxDepth                   int      `mapstructure:"max_depth"`
	AutoRepliesPerSenderPerDay int      `mapstructure:"auto_replies_per_sender_per_day"`
	UnknownRepliesPerDomain    int      `mapstructure:"unknown_replies_per_domain_per_hour"`
	UnknownRepliesPerHour      int      `mapstructure:"unknown_replies_per_hour"`
	MaxAttempts                int      `mapstructure:"max_attempts"`
	QuarantineFolder           string   `mapstructure:"quarantine_folder"`
	StaffCopyMaxBytes          ByteSize `mapstructure:"staff_copy_max_bytes"`
}

type ParseConfig struct {
	TicketPattern string   `mapstructure:"ticket_pattern"`
	ServerOS      []string `mapstructure:"server_os"`
}

type RoutingConfig struct {
	Rules []RuleConfig `mapstructure:"rules"`
}

type RuleConfig struct {
	Name      string   `mapstructure:"name"`
	Statuses  []string `mapstructure:"statuses"`
	Actions   []string `mapstructure:"actions"`
	Priority  []int    `mapstructure:"priority"`
	Folder    string   `mapstructure:"folder"`
	ForwardTo []string `mapstructure:"forward_to"`
}

type TemplatesConfig struct {
	Dir string `mapstructure:"dir"`
}

type StoreConfig struct {
	Path         string        `mapstructure:"path"`
	RawRetention time.Duration `mapstructure:"raw_retention"`
	LockTimeout  time.Duration `mapstructure:"lock_timeout"`
}

// OAuth2Config gives XOAUTH2 credentials: a static access token, or a refresh token
// exchanged at TokenURL (golang.org/x/oauth2). *_file variants read the secret from a
// file so it never has to sit in the YAML.
type OAuth2Config struct {
	TokenURL         string   `mapstructure:"token_url"`
	ClientID         string   `mapstructure:"client_id"`
	ClientSecret     string   `mapstructure:"client_secret"`
	ClientSecretFile string   `mapstructure:"client_secret_file"`
	RefreshToken     string   `mapstructure:"refresh_token"`
	RefreshTokenFile string   `mapstructure:"refresh_token_file"`
	AccessToken      string   `mapstructure:"access_token"`
	AccessTokenFile  string   `mapstructure:"access_token_file"`
	Scopes           []string `mapstructure:"scopes"`
}

func (o OAuth2Config) enabled() bool {
	return o.TokenURL != "" || o.RefreshToken != "" || o.RefreshTokenFile != "" ||
		o.AccessToken != "" || o.AccessTokenFile != ""
}

type IMAPConfig struct {
	Address      string       `mapstructure:"address"`
	TLS          string       `mapstructure:"tls"`
	Username     string       `mapstructure:"username"`
	Password     string       `mapstructure:"password"`
	PasswordFile string       `mapstructure:"password_file"`
	OAuth2       OAuth2Config `mapstructure:"oauth2"`
	Mailbox      string       `mapstructure:"mailbox"`
	// Mailboxes are several folders of the account, each read on its own
	// connection with its own checkpoint; when set it replaces Mailbox.
	Mailboxes    []string      `mapstructure:"mailboxes"`
	Idle         bool          `mapstructure:"idle"`
	PollInterval time.Duration `mapstructure:"poll_interval"`
	BatchSize    int           `mapstructure:"batch_size"`
	BatchBytes   ByteSize      `mapstructure:"batch_bytes"`
	CAFile       string        `mapstructure:"ca_file"`
	// TLSServerName is the name the server certificate must carry when it differs
	// from the host of address (a server reached by IP address or an alias).
	TLSServerName string `mapstructure:"tls_server_name"`
	// Watchdog is how often an idle connection is checked with NOOP (a half-open
	// connection is noticed within about twice this); IdleRestart re-issues IDLE
	// before servers drop it (RFC 2177: 29 minutes at most).
	Watchdog    time.Duration `mapstructure:"watchdog_interval"`
	IdleRestart time.Duration `mapstructure:"idle_restart"`
	// StartAt is where the first start on a mailbox that already holds mail
	// begins: now, all or a date (flag --start-at of run). Without it run
	// refuses to start on such a mailbox.
	StartAt string `mapstructure:"start_at"`
	// SentMailbox is the folder whose messages count as staff responses when
	// they answer a ticket's customer (§10): SentSpecialUse (the default) is
	// the folder the server marks \Sent (RFC 6154), any other value a folder
	// name, "" watches no Sent folder. Read-only, on a connection of its own.
	SentMailbox string `mapstructure:"sent_mailbox"`
}

// SentSpecialUse as imap.sent_mailbox means the folder the server marks with
// the \Sent special-use attribute (RFC 6154).
const SentSpecialUse = `\Sent`

type SMTPConfig struct {
	Address      string       `mapstructure:"address"`
	TLS          string       `mapstructure:"tls"`
	Username     string       `mapstructure:"username"`
	Password     string       `mapstructure:"password"`
	PasswordFile string       `mapstructure:"password_file"`
	OAuth2       OAuth2Config `mapstructure:"oauth2"`
	From         string       `mapstructure:"from"`
	MaxConns     int          `mapstructure:"max_conns"`
	CAFile       string       `mapstructure:"ca_file"`
	// TLSServerName is the name the server certificate must carry when it differs
	// from the host of address (a server reached by IP address or an alias).
	TLSServerName string `mapstructure:"tls_server_name"`
	// HeloName is the name sent in EHLO; empty means the machine's fully
	// qualified name (servers that check HELO reject "localhost").
	HeloName string        `mapstructure:"helo_name"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

type MetricsConfig struct {
	Listen string `mapstructure:"listen"`
	// AllowRemote permits a listen address other than loopback: the listener
	// also serves the admin API's health and metrics to whoever reaches it.
	AllowRemote bool `mapstructure:"allow_remote"`
}

type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// ByteSize is a size in bytes written as 50MiB, 10MB, 1024 or 512KiB.
type ByteSize int64

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMGT]?I?B?)\s*$`)

// ParseByteSize reads "50MiB", "10MB", "1024", "512k".
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 50MiB, 10MB, 1048576)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	unit := strings.TrimSuffix(m[2], "B")
	base := int64(1000)
	if strings.HasSuffix(unit, "I") {
		base = 1024
		unit = strings.TrimSuffix(unit, "I")
	}
	mult := map[string]int64{"": 1, "K": base, "M": base * base, "G": base * base * base, "T": base * base * base * base}[unit]
	return ByteSize(n * mult), nil
}

// Default is the configuration used where the file, environment and flags say
// nothing.
func Default() Config {
	return Config{
		Support: SupportConfig{
			Addresses:    []string{"support@vendor.test"},
			SalesAddress: "sales@vendor.test",
			Timezone:     "Australia/Adelaide",
			Hours:        HoursConfig{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Open: "06:00", Close: "18:00"},
			Holidays:     HolidaysConfig{Region: "AU-SA", Extra: []string{}, Removed: []string{}},
			SalesBrief:   true,
			Phone:        PhoneConfig{Hours: HoursConfig{Days: []string{"mon", "tue", "wed", "thu", "fri"}, Open: "08:30", Close: "17:00"}},
			Signature:    "Technical Support Team",
		},
		SLA:     SLAConfig{Clock: sla.Elapsed, InHours: 2 * time.Hour, OutOfHours: 24 * time.Hour, OutOfHoursTarget: 12 * time.Hour, WarnBefore: 30 * time.Minute},
		Tickets: TicketsConfig{IDFormat: store.DefaultTicketIDFormat, ReopenDays: 14},
		Versions: []VersionConfig{
			{Major: 9, FirstBuild: 9000, LastBuild: 9999, Released: "2021-02-15"},
			{Major: 8, FirstBuild: 8000, LastBuild: 8999, Released: "2017-06-01"},
			{Major: 7, FirstBuild: 7000, LastBuild: 7999, Released: "2015-01-01"},
		},
		Security: SecurityConfig{
			TrustedAuthservIDs: []string{"mx.vendor.test"},
			PublicDomains:      []string{"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com", "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.com", "gmx.net", "mail.com", "yandex.com", "zoho.com", "fastmail.com", "bigpond.com"},
		},
		Limits: LimitsConfig{
			MaxMessageBytes:            50 << 20,
			MaxHeaderBytes:             256 << 10,
			MaxParts:                   500,
			MaxDepth:                   20,
			AutoRepliesPerSenderPerDay: triage.DefaultRepliesPerDay,
			UnknownRepliesPerDomain:    triage.DefaultUnknownRepliesPerDomainPerHour,
			UnknownRepliesPerHour:      triage.DefaultUnknownRepliesPerHour,
			MaxAttempts:                3,
			QuarantineFolder:           "Quarantine",
			StaffCopyMaxBytes:          2 << 20,
		},
		Parse:   ParseConfig{TicketPattern: mailparse.DefaultTicketPattern},
		Routing: RoutingConfig{Rules: []RuleConfig{}},
		Store:   StoreConfig{Path: "supportd.db", RawRetention: 90 * 24 * time.Hour, LockTimeout: 2 * time.Second},
		IMAP: IMAPConfig{Address: "imap.vendor.test:993", TLS: "implicit", Username: "support@vendor.test", Mailbox: "INBOX", Idle: true, PollInterval: 30 * time.Second, BatchSize: 100, BatchBytes: 8 << 20,
			Watchdog: 20 * time.Second, IdleRestart: 9 * time.Minute, SentMailbox: SentSpecialUse},
		SMTP:    SMTPConfig{Address: "smtp.vendor.test:587", TLS: "starttls", From: "Support <support@vendor.test>", MaxConns: 2, Timeout: 2 * time.Minute},
		Metrics: MetricsConfig{Listen: "127.0.0.1:9465"},
		Log:     LogConfig{Level: "info", Format: "text"},
	}
}

// configFileNames is the default search path of --config.
var configFileNames = []string{"supportd.yaml", "/etc/supportd/supportd.yaml"}

// Load reads the configuration: defaults, then the YAML file (explicit path, or
// the first of the search path that exists), then SUPPORTD_* environment variables,
// then flags (flags win). The file is --config, else $SUPPORTD_CONFIG, else the first
// of the search path that exists. Unknown keys in the file are errors naming the key;
// a SUPPORTD_* variable that names no key is ignored and reported by Warnings. It
// does not validate; call Validate.
func Load(path string, flags *pflag.FlagSet, env []string) (Config, string, error) {
	v := viper.New()
	setDefaults(v, "", reflect.ValueOf(Default()))
	v.SetConfigType("yaml")
	used := ""
	var ignoredEnv []string
	if path == "" {
		path = envValue(env, envConfigPath)
	}
	if path == "" {
		for _, p := range configFileNames {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	} else if _, err := os.Stat(path); err != nil {
		return Config{}, "", fmt.Errorf("config file: %w", err)
	}
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return Config{}, "", fmt.Errorf("config file: %w", err)
		}
		err = v.ReadConfig(f)
		f.Close()
		if err != nil {
			return Config{}, "", fmt.Errorf("config file %s: %w", path, err)
		}
		used = path
	}
	// Environment: SUPPORTD_STORE_PATH → store.path. Read from env (not os.Getenv)
	// so tests control it.
	envSet := map[string]bool{}
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "SUPPORTD_") {
			continue
		}
		if k == envConfigPath {
			continue
		}
		key, known := envKey(v, strings.TrimPrefix(k, "SUPPORTD_"))
		if !known {
			// Not fatal: the variable may belong to a wrapper script or a test harness
			// sharing the prefix. A typo still shows: config check and run warn with
			// the name (Warnings).
			ignoredEnv = append(ignoredEnv, k)
			continue
		}
		v.Set(key, val)
		envSet[key] = true
	}
	if flags != nil {
		for flag, key := range flagKeys {
			if f := flags.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}
	var c Config
	hook := mapstructure.ComposeDecodeHookFunc(
		durationHook,
		mapstructure.StringToSliceHookFunc(","),
		byteSizeHook,
		dateStringHook,
	)
	err := v.UnmarshalExact(&c, viper.DecodeHook(hook))
	if err != nil {
		return Config{}, "", fmt.Errorf("config: %s", cleanDecodeError(err))
	}
	// Accounts inherit the top-level imap/smtp settings they leave out.
	if c.AccountList, err = decodeAccounts(v.Get("accounts"), c, hook); err != nil {
		return Config{}, "", fmt.Errorf("config: %w", err)
	}
	// --start-at is the operator's choice for this start: it applies to every
	// account, over the start_at an account's own section gives.
	if flags != nil {
		if f := flags.Lookup("start-at"); f != nil && f.Changed {
			for i := range c.AccountList {
				c.AccountList[i].IMAP.StartAt = f.Value.String()
			}
		}
	}
	c.mailboxSet = v.InConfig("imap.mailbox") || envSet["imap.mailbox"]
	slices.Sort(ignoredEnv)
	c.ignoredEnv = ignoredEnv
	return c, used, nil
}

// envConfigPath names the configuration file when --config is not given.
const envConfigPath = "SUPPORTD_CONFIG"

// envValue returns the value of name in env ("" when absent).
func envValue(env []string, name string) string {
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			return val
		}
	}
	return ""
}

// flagKeys maps global flags to configuration keys.
var flagKeys = map[string]string{
	"store":      "store.path",
	"log-level":  "log.level",
	"log-format": "log.format",
	"start-at":   "imap.start_at", // run only
}

// envKey finds the configuration key an environment suffix names: STORE_PATH is
// store.path, SUPPORT_SALES_ADDRESS is support.sales_address.
func envKey(v *viper.Viper, suffix string) (string, bool) {
	want := strings.ToLower(suffix)
	for _, k := range v.AllKeys() {
		if strings.ReplaceAll(k, ".", "_") == want {
			return k, true
		}
	}
	return "", false
}

// setDefaults registers every key of the default config with viper, so that unknown
// keys can be told apart and environment variables find their key.
func setDefaults(v *viper.Viper, prefix string, rv reflect.Value) {
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		tag := rt.Field(i).Tag.Get("mapstructure")
		if tag == "" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		fv := rv.Field(i)
		if fv.Kind() == reflect.Struct {
			setDefaults(v, key, fv)
			continue
		}
		switch val := fv.Interface().(type) {
		case []VersionConfig:
			list := make([]map[string]any, len(val))
			for j, vc := range val {
				list[j] = map[string]any{"major": vc.Major, "first_build": vc.FirstBuild, "last_build": vc.LastBuild, "released": vc.Released}
			}
			v.SetDefault(key, list)
		case []RuleConfig, []AccountConfig:
			v.SetDefault(key, []map[string]any{})
		case time.Duration:
			v.SetDefault(key, val.String())
		case ByteSize:
			v.SetDefault(key, int64(val))
		default:
			v.SetDefault(key, val)
		}
	}
}

var byteSizeType = reflect.TypeOf(ByteSize(0))

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseByteSize(d)
	case int:
		return ByteSize(d), nil
	case int64:
		return ByteSize(d), nil
	case float64:
		return ByteSize(d), nil
	}
	return data, nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// durationHook reads a duration key: a Go duration ("90s", "2h30m"); a bare
// number other than 0 is refused, as it would be read as nanoseconds. The
// error quotes the value and shows the form.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: write it like 90s, 30m or 2h (days as hours: 2160h for 90 days)", v)
		}
		return d, nil
	case int, int64, uint64, float64:
		if reflect.ValueOf(v).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit: write it like %vs, %vm or %vh", v, v, v, v)
	}
	return data, nil
}

// dateStringHook keeps YAML dates (2021-02-15, which some decoders turn into
// time.Time) as YYYY-MM-DD strings.
func dateStringHook(from, to reflect.Type, data any) (any, error) {
	if t, ok := data.(time.Time); ok && to.Kind() == reflect.String {
		return t.Format("2006-01-02"), nil
	}
	return data, nil
}

var (
	unusedKeysRE = regexp.MustCompile(`'([^']*)' has invalid keys: (.*)`)
	keyedErrorRE = regexp.MustCompile(`^'([^']+)' (.*)$`)
)

// cleanDecodeError rewrites mapstructure's messages so they name full keys:
// "unknown key support.sales_adress".
func cleanDecodeError(err error) string {
	msg := err.Error()
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s):") {
			continue
		}
		if m := unusedKeysRE.FindStringSubmatch(line); m != nil {
			for _, k := range strings.Split(m[2], ", ") {
				full := k
				if m[1] != "" {
					full = m[1] + "." + k
				}
				out = append(out, "unknown key "+full)
			}
			continue
		}
		if m := keyedErrorRE.FindStringSubmatch(line); m != nil {
			line = m[1] + ": " + m[2] // 'sla.in_hours' "2 hours" is not … → sla.in_hours: "2 hours" is not …
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return msg
	}
	return strings.Join(out, "; ")
}

// Validate checks the configuration; every error names its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Support.Addresses) == 0 {
		bad("support.addresses", "at least one address of ours is needed (we never auto-reply to it)")
	}
	for i, a := range c.Support.Addresses {
		if !looksLikeAddr(a) {
			bad(fmt.Sprintf("support.addresses[%d]", i), "%q is not an email address", a)
		}
	}
	if c.Support.SalesAddress != "" && !looksLikeAddr(c.Support.SalesAddress) {
		bad("support.sales_address", "%q is not an email address", c.Support.SalesAddress)
	}
	if c.Support.StaffQueue != "" && !looksLikeAddr(c.Support.StaffQueue) {
		bad("support.staff_queue", "%q is not an email address", c.Support.StaffQueue)
	}
	if _, err := c.SLAConfig(); err != nil {
		errs = append(errs, err)
	} else if _, err := sla.New(mustSLA(c)); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Majors(); err != nil {
		errs = append(errs, err)
	}
	first, errFirst := store.FormatTicketID(c.Tickets.IDFormat, 1)
	if errFirst != nil || strings.Count(c.Tickets.IDFormat, "%") != 1 || !strings.Contains(c.Tickets.IDFormat, "%0") || !strings.HasSuffix(c.Tickets.IDFormat, "d") {
		bad("tickets.id_format", "%q must be a prefix and one zero-padded number, e.g. \"CS-M%%05d\"", c.Tickets.IDFormat)
	} else if c.Parse.TicketPattern != "" {
		last := first
		for n := uint64(9); ; n = n*10 + 9 {
			id, err := store.FormatTicketID(c.Tickets.IDFormat, n)
			if err != nil {
				break
			}
			last = id
		}
		re, err := regexp.Compile(c.Parse.TicketPattern)
		if err == nil {
			_, err = mailparse.New(c.parseOptions())
		}
		switch {
		case err != nil:
			bad("parse.ticket_pattern", "%v", err)
		case re.FindString(first) != first || re.FindString(last) != last:
			bad("parse.ticket_pattern", "%q must match the ticket ids supportd issues (tickets.id_format: %s … %s), or a reply to an acknowledgement would open a new ticket", c.Parse.TicketPattern, first, last)
		case re.FindString("CS-000001") == "CS-000001" && first == "CS-000001":
			bad("tickets.id_format", "%q issues ids the vendor's web page issues too (CS-000001)", c.Tickets.IDFormat)
		}
	}
	if c.Tickets.ReopenDays < 0 {
		bad("tickets.reopen_days", "must not be negative")
	}
	if c.SLA.WarnBefore < 0 {
		bad("sla.warn_before", "must not be negative")
	}
	for _, s := range c.Support.Staff {
		if v := strings.TrimPrefix(strings.TrimSpace(s), "@"); v == "" || (!strings.HasPrefix(strings.TrimSpace(s), "@") && !looksLikeAddr(s)) || strings.Contains(v, " ") {
			bad("support.staff", "%q is neither an address nor an @domain entry", s)
		}
	}
	if c.Support.Phone.Number != "" {
		for _, k := range []struct{ key, v string }{{"support.phone.hours.open", c.Support.Phone.Hours.Open}, {"support.phone.hours.close", c.Support.Phone.Hours.Close}} {
			if _, err := parseClock(k.key, k.v); err != nil {
				bad(k.key, "%q is not a time HH:MM", k.v)
			}
		}
	}
	for _, l := range strings.Split(c.Support.Signature, "\n") {
		if n := len([]rune(l)); n > 78 {
			bad("support.signature", "a line of %d characters: at most 78 (replies keep to 78-character lines)", n)
		}
	}
	if c.Support.EscalationAddress != "" && !looksLikeAddr(c.Support.EscalationAddress) {
		bad("support.escalation_address", "%q is not an email address", c.Support.EscalationAddress)
	}
	if c.Limits.MaxMessageBytes <= 0 {
		bad("limits.max_message_bytes", "must be positive")
	}
	for key, v := range map[string]int{
		"limits.auto_replies_per_sender_per_day":     c.Limits.AutoRepliesPerSenderPerDay,
		"limits.unknown_replies_per_domain_per_hour": c.Limits.UnknownRepliesPerDomain,
		"limits.unknown_replies_per_hour":            c.Limits.UnknownRepliesPerHour,
	} {
		if v < 1 || v > store.MaxRepliesCounted {
			bad(key, "must be between 1 and %d, got %d", store.MaxRepliesCounted, v)
		}
	}
	if c.Limits.MaxAttempts < 1 {
		bad("limits.max_attempts", "must be at least 1")
	}
	for i, r := range c.Routing.Rules {
		key := fmt.Sprintf("routing.rules[%d]", i)
		for _, s := range r.Statuses {
			switch entitlement.Status(s) {
			case entitlement.Active, entitlement.Trial, entitlement.Free, entitlement.Lapsed, entitlement.Unknown:
			default:
				bad(key+".statuses", "%q is not a status (active, trial, free, lapsed, unknown)", s)
			}
		}
		for _, a := range r.Actions {
			switch triage.Action(a) {
			case triage.Suppress, triage.FollowUp, triage.LapsedNotice, triage.UnsupportedVersion, triage.Acknowledge:
			default:
				bad(key+".actions", "%q is not an action", a)
			}
		}
		for _, a := range r.ForwardTo {
			if !looksLikeAddr(a) {
				bad(key+".forward_to", "%q is not an email address", a)
			}
		}
	}
	if c.Store.Path == "" {
		bad("store.path", "must be set")
	}
	if c.Limits.StaffCopyMaxBytes < 0 {
		bad("limits.staff_copy_max_bytes", "must not be negative")
	}
	errs = append(errs, validateIMAP("imap", c.IMAP, c.mailboxSet, c.Support.Timezone)...)
	errs = append(errs, validateSMTP("smtp", c.SMTP)...)
	errs = append(errs, c.validateAccounts()...)
	if c.Security.RequireVerifiedSender && len(c.Security.TrustedAuthservIDs) == 0 {
		bad("security.trusted_authserv_ids", "empty while security.require_verified_sender is true: no Authentication-Results header would be trusted, so every sender would be unknown; list your MTA's authserv-id")
	}
	// Mail for staff and sales must leave the support inbox: an address of
	// ours (also with a +tag, which reaches the same mailbox) brings it back.
	own := c.ownAddresses()
	for _, k := range []struct{ key, addr, what string }{
		{"support.staff_queue", c.Support.StaffQueue, "staff copies would come back into the support inbox"},
		{"support.escalation_address", c.Support.EscalationAddress, "SLA warnings would come back into the support inbox instead of reaching a person"},
		{"support.sales_address", c.Support.SalesAddress, "the CC of lapsed notices and the sales briefs would come back into the support inbox, never reaching sales"},
	} {
		if k.addr != "" && triage.IsOwn(k.addr, own) {
			bad(k.key, "%q is one of our own addresses (support.addresses or an account's): %s", k.addr, k.what)
		}
	}
	for i, s := range c.Support.Staff {
		if !strings.HasPrefix(strings.TrimSpace(s), "@") && triage.IsOwn(s, own) {
			bad(fmt.Sprintf("support.staff[%d]", i), "%q is one of our own addresses: staff are people who answer from their own mailboxes", s)
		}
	}
	if l := c.Metrics.Listen; l != "" {
		if host, _, err := net.SplitHostPort(l); err != nil {
			bad("metrics.listen", "%q must be host:port", l)
		} else if !loopback.Host(host) && !c.Metrics.AllowRemote {
			bad("metrics.listen", "%q is not a loopback address: /metrics and /healthz would be open to the network; use 127.0.0.1:PORT or set metrics.allow_remote: true", l)
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "must be text or json")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	return errors.Join(errs...)
}

func validateEndpoint(section, addr, mode string) []error {
	var errs []error
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s.address: %q must be host:port", section, addr))
	} else if n, perr := net.LookupPort("tcp", port); host == "" || perr != nil || n < 1 {
		errs = append(errs, fmt.Errorf("%s.address: %q must be host:port, the port from 1 to 65535 (or a service name: imaps, submission)", section, addr))
	}
	switch mode {
	case "implicit", "starttls":
	case "none":
		if err == nil && !loopback.Host(host) {
			errs = append(errs, fmt.Errorf("%s.tls: none is accepted only for loopback addresses (127.0.0.1, ::1, localhost), not %q", section, host))
		}
	default:
		errs = append(errs, fmt.Errorf("%s.tls: must be implicit, starttls or none", section))
	}
	return errs
}

func looksLikeAddr(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \r\n<>")
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func parseClock(key, s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a time HH:MM", key, s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// SLAConfig converts the support/sla sections into sla.Config.
func (c Config) SLAConfig() (sla.Config, error) {
	loc, err := time.LoadLocation(c.Support.Timezone)
	if err != nil || c.Support.Timezone == "" {
		return sla.Config{}, fmt.Errorf("support.timezone: %q is not an IANA time zone", c.Support.Timezone)
	}
	var days []time.Weekday
	for i, d := range c.Support.Hours.Days {
		wd, ok := weekdays[strings.ToLower(d)]
		if !ok {
			return sla.Config{}, fmt.Errorf("support.hours.days[%d]: %q is not a day (mon … sun)", i, d)
		}
		days = append(days, wd)
	}
	open, err := parseClock("support.hours.open", c.Support.Hours.Open)
	if err != nil {
		return sla.Config{}, err
	}
	closeAt, err := parseClock("support.hours.close", c.Support.Hours.Close)
	if err != nil {
		return sla.Config{}, err
	}
	return sla.Config{
		Location: loc, Days: days, Open: open, Close: closeAt,
		Extra: c.Support.Holidays.Extra, Removed: c.Support.Holidays.Removed, Region: c.Support.Holidays.Region,
		Clock: c.SLA.Clock, InHours: c.SLA.InHours, OutOfHours: c.SLA.OutOfHours, OutOfHoursTarget: c.SLA.OutOfHoursTarget,
	}, nil
}

func mustSLA(c Config) sla.Config {
	s, _ := c.SLAConfig()
	return s
}

func (c Config) Majors() ([]versions.Major, error) {
	var ms []versions.Major
	for i, vc := range c.Versions {
		t, err := time.Parse("2006-01-02", vc.Released)
		if err != nil {
			return nil, fmt.Errorf("versions[%d].released: %q is not a date YYYY-MM-DD", i, vc.Released)
		}
		ms = append(ms, versions.Major{Major: vc.Major, FirstBuild: vc.FirstBuild, LastBuild: vc.LastBuild, Released: t})
	}
	if err := versions.Validate(ms); err != nil {
		return nil, err
	}
	return ms, nil
}

func (c Config) Policy() entitlement.Policy {
	loc, _ := time.LoadLocation(c.Support.Timezone)
	return entitlement.Policy{
		Location:              loc,
		RequireVerifiedSender: c.Security.RequireVerifiedSender,
		TrustedAuthservIDs:    c.Security.TrustedAuthservIDs,
		PublicDomains:         c.Security.PublicDomains,
	}
}

// Parser compiles the parse section into the message parser.
func (c Config) Parser() (*mailparse.Parser, error) {
	p, err := mailparse.New(c.parseOptions())
	if err != nil {
		return nil, fmt.Errorf("parse.ticket_pattern: %w", err)
	}
	return p, nil
}

func (c Config) parseOptions() mailparse.Options {
	return mailparse.Options{
		Limits: mailparse.Limits{
			MaxMessageBytes: int64(c.Limits.MaxMessageBytes),
			MaxHeaderBytes:  int(c.Limits.MaxHeaderBytes),
			MaxParts:        c.Limits.MaxParts,
			MaxDepth:        c.Limits.MaxDepth,
		},
		TicketPattern: c.Parse.TicketPattern,
		ServerOSes:    c.Parse.ServerOS,
	}
}

func (c Config) TriageConfig() triage.Config {
	rules := make([]triage.Rule, len(c.Routing.Rules))
	for i, r := range c.Routing.Rules {
		rules[i] = triage.Rule{Name: r.Name, Statuses: r.Statuses, Actions: r.Actions, Priority: r.Priority, Folder: r.Folder, ForwardTo: r.ForwardTo}
	}
	return triage.Config{
		OwnAddresses:                   c.ownAddresses(),
		SalesAddress:                   c.Support.SalesAddress,
		SalesBrief:                     c.Support.SalesBrief,
		StaffQueue:                     c.Support.StaffQueue,
		RepliesPerDay:                  c.Limits.AutoRepliesPerSenderPerDay,
		UnknownRepliesPerDomainPerHour: c.Limits.UnknownRepliesPerDomain,
		UnknownRepliesPerHour:          c.Limits.UnknownRepliesPerHour,
		Rules:                          rules,
	}
}

// IgnoredEnv lists the SUPPORTD_* variables Load found that name no key.
func (c Config) IgnoredEnv() []string { return c.ignoredEnv }

// Warnings are legal but noteworthy settings, printed by `config check`.
func (c Config) Warnings() []string {
	var w []string
	if c.IMAP.TLS == "none" {
		w = append(w, "imap.tls: none — plain text, accepted only because imap.address is loopback")
	}
	if c.SMTP.TLS == "none" {
		w = append(w, "smtp.tls: none — plain text, accepted only because smtp.address is loopback")
	}
	for _, a := range c.Accounts() {
		moved := []string{c.Limits.QuarantineFolder}
		for _, r := range c.Routing.Rules {
			moved = append(moved, r.Folder)
		}
		for _, f := range moved {
			if f != "" && containsFolder(a.IMAP.Folders(), f) {
				w = append(w, fmt.Sprintf("%simap.mailboxes: %q is also where supportd moves messages (limits.quarantine_folder or a routing rule's folder): moved messages are read again there and recorded as already processed, never answered", a.Key, f))
			}
		}
	}
	for i, a := range c.AccountList {
		for _, sec := range []struct{ name, tls string }{{"imap", a.IMAP.TLS}, {"smtp", a.SMTP.TLS}} {
			if sec.tls == "none" {
				key := fmt.Sprintf("accounts[%d].%s", i, sec.name)
				w = append(w, key+".tls: none — plain text, accepted only because "+key+".address is loopback")
			}
		}
	}
	if c.Support.StaffQueue == "" && len(c.Routing.Rules) == 0 {
		w = append(w, "support.staff_queue is empty and routing.rules has none: staff see messages only by their IMAP keywords")
	}
	if c.Support.SalesAddress == "" {
		w = append(w, "support.sales_address is empty: lapsed-support notices CC nobody")
	}
	for _, k := range c.ignoredEnv {
		w = append(w, "environment variable "+k+" names no configuration key: ignored (a typo? keys map as SUPPORTD_STORE_PATH → store.path)")
	}
	return w
}

// weekdayNames are the support.hours.days tokens in week order, with their names.
var weekdayNames = []struct{ key, name string }{
	{"mon", "Monday"}, {"tue", "Tuesday"}, {"wed", "Wednesday"}, {"thu", "Thursday"},
	{"fri", "Friday"}, {"sat", "Saturday"}, {"sun", "Sunday"},
}

// supportHoursText is support.hours as a customer reads it in a reply:
// "Monday to Friday, 06:00–18:00 Adelaide time (Australia/Adelaide)". Runs of
// consecutive days collapse into "X to Y"; other days are listed.
func SupportHoursText(h HoursConfig, tz string) string {
	on := make([]bool, len(weekdayNames))
	for _, d := range h.Days {
		for i, w := range weekdayNames {
			if strings.EqualFold(strings.TrimSpace(d), w.key) {
				on[i] = true
			}
		}
	}
	var parts []string
	for i := 0; i < len(on); i++ {
		if !on[i] {
			continue
		}
		j := i
		for j+1 < len(on) && on[j+1] {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, weekdayNames[i].name)
		case j == i+1:
			parts = append(parts, weekdayNames[i].name, weekdayNames[j].name)
		default:
			parts = append(parts, weekdayNames[i].name+" to "+weekdayNames[j].name)
		}
		i = j
	}
	days := strings.Join(parts, ", ")
	if len(parts) > 1 {
		days = strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
	i := strings.LastIndexByte(tz, '/')
	if i < 0 {
		return fmt.Sprintf("%s, %s–%s %s", days, h.Open, h.Close, tz)
	}
	return fmt.Sprintf("%s, %s–%s %s time (%s)", days, h.Open, h.Close, strings.ReplaceAll(tz[i+1:], "_", " "), tz)
}
