// Command supportd runs a software vendor's support inbox: it reads the mailbox over
// IMAP, decides one action per message (docs/design.md §6), replies over SMTP and routes every
// message for staff. See README.md and `supportd help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"supportd/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(os.Stdout, os.Stderr, os.Environ()).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "supportd:", err)
		os.Exit(exitCode(err))
	}
}

type exitCoder interface{ ExitCode() int }

// exitCode is 2 for a usage error (unknown command or flag, wrong arguments, a
// malformed flag value), an error's own code when it has one, else 1.
func exitCode(err error) int {
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return 2
	}
	return 1
}

// usageError marks a mistake in the command line itself (exit status 2).
type usageError struct{ error }

func (usageError) ExitCode() int   { return 2 }
func (e usageError) Unwrap() error { return e.error }

// markUsageErrors makes flag and argument errors of cmd and its subcommands
// usageErrors; so is an unknown subcommand of a group (`config chek`), which
// cobra would answer with the group's help and success.
func markUsageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.HasParent() && c.HasSubCommands() && !c.Runnable() {
			c.RunE = func(cc *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cc.Help()
				}
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cc.CommandPath())
				cc.SuggestionsMinimumDistance = max(cc.SuggestionsMinimumDistance, 2)
				if s := cc.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageError{errors.New(msg)}
			}
		}
		if args := c.Args; args != nil {
			c.Args = func(cc *cobra.Command, a []string) error {
				if err := args(cc, a); err != nil {
					return usageError{err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}

// app carries what every subcommand needs: where output goes, the environment, and
// the configuration loaded from the root flags.
type app struct {
	stdout, stderr io.Writer
	env            []string
	configPath     string
	cfg            config.Config
	cfgFile        string
	supportLoc     *time.Location // support.timezone, loaded on first use
}

func newRootCmd(stdout, stderr io.Writer, env []string) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr, env: env}
	root := &cobra.Command{
		Use:           "supportd",
		Short:         "Support inbox daemon: IMAP in, entitlement and SLA, one reply per message over SMTP",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Annotations["noconfig"] == "true" {
				return nil
			}
			cfg, used, err := config.Load(a.configPath, cmd.Flags(), a.env)
			if err != nil {
				return err
			}
			a.cfg, a.cfgFile = cfg, used
			return nil
		},
	}
	root.Version = versionText(debug.ReadBuildInfo())
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "configuration file (default: ./supportd.yaml, then /etc/supportd/supportd.yaml)")
	pf.String("store", "", "store file (store.path)")
	pf.String("log-level", "", "log level: debug, info, warn, error (log.level)")
	pf.String("log-format", "", "log format: text or json (log.format)")

	root.AddCommand(
		a.runCmd(),
		a.demoCmd(),
		a.explainCmd(),
		a.customersCmd(),
		a.ticketsCmd(),
		a.outboxCmd(),
		a.reportCmd(),
		a.backupCmd(),
		a.restoreCmd(),
		a.configCmd(),
		a.versionCmd(),
	)
	markUsageErrors(root)
	return root
}

// logger builds the slog logger of log.level / log.format writing to stderr.
func (a *app) logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(a.cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if a.cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(a.stderr, opts))
}

func (a *app) configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Configuration commands"}
	var defaults bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Run every check `run` makes before it connects; errors name the key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			err := a.preflight(cmd.Context(), defaults)
			// The other commands only warn about a SUPPORTD_* variable that names
			// no key (wrappers share the prefix); the checker is strict, since
			// a typo there (or a wished-for SUPPORTD_IMAP_INSECURE_SKIP_VERIFY)
			// silently does nothing.
			for _, k := range a.cfg.IgnoredEnv() {
				err = errors.Join(err, fmt.Errorf("environment variable %s names no configuration key (keys map as SUPPORTD_STORE_PATH → store.path)", k))
			}
			if err != nil {
				return err
			}
			src := a.cfgFile
			if src == "" {
				src = "defaults and environment (no file)"
			}
			fmt.Fprintf(a.stdout, "configuration OK (%s)\n", src)
			for _, w := range a.cfg.Warnings() {
				fmt.Fprintln(a.stdout, "warning:", w)
			}
			return nil
		},
	}
	defaultsFlag(check, &defaults)
	c.AddCommand(check)
	return c
}

// defaultsFlag adds --defaults, which lets run and config check go on without a
// configuration file.
func defaultsFlag(c *cobra.Command, v *bool) {
	c.Flags().BoolVar(v, "defaults", false, "without a configuration file, use the built-in defaults (and SUPPORTD_* variables)")
}

// preflight is everything `run` checks before it opens the store or connects,
// and everything `config check` does: a configuration file was found (or
// --defaults given), and config.Check (keys, templates, secret and CA files).
func (a *app) preflight(ctx context.Context, defaults bool) error {
	var noFile error
	if a.cfgFile == "" && !defaults {
		noFile = errors.New("no configuration file: give --config FILE or SUPPORTD_CONFIG, or create ./supportd.yaml or /etc/supportd/supportd.yaml (--defaults runs on the built-in defaults)")
	}
	return errors.Join(noFile, a.cfg.Check(ctx))
}
