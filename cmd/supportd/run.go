package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"supportd/daemon"
	"supportd/internal/config"
	"supportd/internal/loopback"
	"supportd/store"
)

func (a *app) runCmd() *cobra.Command {
	var defaults bool
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: read the mailbox, reply, route (SIGTERM/SIGINT stop it gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd.Context(), defaults)
		},
	}
	defaultsFlag(c, &defaults)
	c.Flags().String("start-at", "", "first start on a mailbox that already holds mail: now | all | DATE (YYYY-MM-DD) (imap.start_at); ignored once the store has read the mailbox")
	return c
}

func (a *app) run(ctx context.Context, defaults bool) error {
	log := a.logger()
	if err := a.preflight(ctx, defaults); err != nil {
		return err
	}
	for _, w := range a.cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	db, err := a.openStoreForRun(log)
	if err != nil {
		return err
	}
	defer db.Close()
	notify, wdInterval, stallAfter := serviceManager(log, a.cfg.SMTP.Timeout)
	k, err := a.cfg.Build(ctx, config.Options{Logger: log, Store: db, Daemon: func(c *daemon.Config) {
		c.Notify, c.WatchdogInterval, c.StallAfter = notify, wdInterval, stallAfter // systemd Type=notify
	}})
	if err != nil {
		return err
	}
	defer k.Close()

	if a.cfg.Metrics.Listen != "" {
		tok, err := newAdminToken()
		if err != nil {
			return err
		}
		loc, err := time.LoadLocation(a.cfg.Support.Timezone)
		if err != nil {
			return fmt.Errorf("support.timezone: %w", err)
		}
		admin := &adminAPI{db: db, token: tok, log: log, loc: loc, engine: k.Engine, wake: k.Daemon.WakeSLA}
		srv, addr, err := serveMetrics(a.cfg.Metrics.Listen, k.Metrics, k.Daemon.Health, admin, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		if host, _, _ := net.SplitHostPort(addr); loopback.Host(host) {
			remove, err := writeAdminToken(a.cfg.Store.Path, tok, addr)
			if err != nil {
				return err
			}
			defer remove()
		}
	}
	for _, acct := range a.cfg.Accounts() {
		log.Info("supportd account", "account", daemon.AccountLabel(acct.Name), "mailboxes", acct.IMAP.Folders(),
			"imap", acct.IMAP.Address, "smtp", acct.SMTP.Address)
	}
	log.Info("supportd running", "mailboxes", k.Daemon.Inboxes(), "store", a.cfg.Store.Path, "metrics", a.cfg.Metrics.Listen, "config", a.cfgFile)
	err = k.Daemon.Run(ctx)
	log.Info("supportd stopped")
	return err
}

// serveMetrics serves /metrics, /healthz (check: nil is 200 "ok", an error —
// Daemon.Health: one line per failing mailbox or account — is 503) and, when
// admin is set and the listener is on loopback, the admin API (admin.go:
// /backup and the customer changes the CLI sends while run holds the store's
// file lock).
func serveMetrics(addr string, m *daemon.Metrics, check func() error, admin *adminAPI, log *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if admin != nil && loopback.Host(host) {
		admin.register(mux)
	}
	srv := &http.Server{Handler: hostGuard(addr, ln.Addr().String(), mux), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

// runLockWait bounds how long run waits for the store's lock: a run stopped
// by SIGTERM may still be flushing its outbox (up to 10 s) when systemd starts
// the next one (RestartSec=2).
const runLockWait = 20 * time.Second

// openStoreForRun opens the store for run, waiting up to runLockWait (at
// least store.lock_timeout) for a previous run to let go of it.
func (a *app) openStoreForRun(log *slog.Logger) (*store.DB, error) {
	db, err := a.openStore(false)
	if err == nil || !errors.Is(err, store.ErrLocked) || a.cfg.Store.LockTimeout >= runLockWait {
		return db, err
	}
	wait := runLockWait - a.cfg.Store.LockTimeout
	log.Warn("store is locked, probably by a supportd run still flushing its outbox: waiting for it", "store", a.cfg.Store.Path, "up_to", wait.String())
	saved := a.cfg.Store.LockTimeout
	a.cfg.Store.LockTimeout = wait
	defer func() { a.cfg.Store.LockTimeout = saved }()
	return a.openStore(false)
}
