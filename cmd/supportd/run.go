package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"supportd/daemon"
	"supportd/mailer"
	"supportd/poller"
)

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: read the mailbox, reply, route (SIGTERM/SIGINT stop it gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.run(cmd.Context())
		},
	}
}

// readSecret returns the inline secret or the trimmed content of its file.
func readSecret(key, inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// tokenSource builds the XOAUTH2 token source of an oauth2 section, or nil.
func tokenSource(ctx context.Context, key string, o OAuth2Config) (oauth2.TokenSource, error) {
	if !o.enabled() {
		return nil, nil
	}
	secret, err := readSecret(key+".client_secret_file", o.ClientSecret, o.ClientSecretFile)
	if err != nil {
		return nil, err
	}
	refresh, err := readSecret(key+".refresh_token_file", o.RefreshToken, o.RefreshTokenFile)
	if err != nil {
		return nil, err
	}
	access, err := readSecret(key+".access_token_file", o.AccessToken, o.AccessTokenFile)
	if err != nil {
		return nil, err
	}
	if refresh == "" {
		if access == "" {
			return nil, fmt.Errorf("%s: an access_token or a refresh_token (with token_url) is needed", key)
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access}), nil
	}
	if o.TokenURL == "" {
		return nil, fmt.Errorf("%s.token_url: needed to refresh the token", key)
	}
	conf := &oauth2.Config{ClientID: o.ClientID, ClientSecret: secret, Scopes: o.Scopes, Endpoint: oauth2.Endpoint{TokenURL: o.TokenURL}}
	tok := &oauth2.Token{AccessToken: access, RefreshToken: refresh}
	if access == "" {
		tok.Expiry = time.Unix(1, 0) // force a refresh first
	}
	return conf.TokenSource(ctx, tok), nil
}

func tlsConfig(key, caFile, addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", key, caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// components builds the store-independent edges of `run` from the configuration.
func (a *app) components(ctx context.Context, log *slog.Logger, spool string) (*poller.Poller, *mailer.Mailer, error) {
	c := a.cfg
	imapPass, err := readSecret("imap.password_file", c.IMAP.Password, c.IMAP.PasswordFile)
	if err != nil {
		return nil, nil, err
	}
	smtpPass, err := readSecret("smtp.password_file", c.SMTP.Password, c.SMTP.PasswordFile)
	if err != nil {
		return nil, nil, err
	}
	imapTS, err := tokenSource(ctx, "imap.oauth2", c.IMAP.OAuth2)
	if err != nil {
		return nil, nil, err
	}
	smtpTS, err := tokenSource(ctx, "smtp.oauth2", c.SMTP.OAuth2)
	if err != nil {
		return nil, nil, err
	}
	imapTLS, err := tlsConfig("imap.ca_file", c.IMAP.CAFile, c.IMAP.Address)
	if err != nil {
		return nil, nil, err
	}
	smtpTLS, err := tlsConfig("smtp.ca_file", c.SMTP.CAFile, c.SMTP.Address)
	if err != nil {
		return nil, nil, err
	}
	p, err := poller.New(poller.Config{
		Address: c.IMAP.Address, TLS: c.IMAP.TLS, TLSConfig: imapTLS,
		Username: c.IMAP.Username, Password: imapPass, TokenSource: imapTS,
		Mailbox: c.IMAP.Mailbox, Idle: c.IMAP.Idle, PollInterval: c.IMAP.PollInterval,
		BatchSize: c.IMAP.BatchSize, BatchBytes: int64(c.IMAP.BatchBytes), MaxMessageBytes: int64(c.Limits.MaxMessageBytes),
		WatchdogInterval: c.IMAP.Watchdog, IdleRestart: c.IMAP.IdleRestart,
		SpoolDir: spool, Logger: log.With("component", "imap"),
	})
	if err != nil {
		return nil, nil, err
	}
	m, err := mailer.New(mailer.Config{
		Address: c.SMTP.Address, TLS: c.SMTP.TLS, TLSConfig: smtpTLS,
		Username: c.SMTP.Username, Password: smtpPass, TokenSource: smtpTS,
		MaxConns: c.SMTP.MaxConns, DataTimeout: c.SMTP.Timeout, Logger: log.With("component", "smtp"),
	})
	if err != nil {
		return nil, nil, err
	}
	return p, m, nil
}

func (a *app) run(ctx context.Context) error {
	log := a.logger()
	eng, err := a.engine()
	if err != nil {
		return err
	}
	for _, w := range a.cfg.Warnings() {
		log.Warn("configuration: " + w)
	}
	db, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer db.Close()
	spool := filepath.Join(filepath.Dir(a.cfg.Store.Path), ".supportd-spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return fmt.Errorf("spool directory %s: %w", spool, err)
	}
	p, m, err := a.components(ctx, log, spool)
	if err != nil {
		return err
	}
	defer m.Close()
	metrics := daemon.NewMetrics(func() float64 { return float64(p.Stats().Reconnects) })
	d := daemon.New(daemon.Config{
		Mailbox: a.cfg.IMAP.Mailbox, ParseOptions: a.cfg.parseOptions(), MaxAttempts: a.cfg.Limits.MaxAttempts,
		QuarantineFolder: a.cfg.Limits.QuarantineFolder, StaffQueue: a.cfg.Support.StaffQueue,
		RawRetention: a.cfg.Store.RawRetention, StaffCopyMaxBytes: int64(a.cfg.Limits.StaffCopyMaxBytes),
	}, eng, db, p, m, log, metrics)

	if a.cfg.Metrics.Listen != "" {
		tok, err := newAdminToken()
		if err != nil {
			return err
		}
		admin := &adminAPI{db: db, token: tok, log: log}
		srv, addr, err := serveMetrics(a.cfg.Metrics.Listen, metrics, p, admin, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		if host, _, _ := net.SplitHostPort(addr); isLoopbackHost(host) {
			remove, err := writeAdminToken(a.cfg.Store.Path, tok, addr)
			if err != nil {
				return err
			}
			defer remove()
		}
	}
	log.Info("supportd running", "mailbox", a.cfg.IMAP.Mailbox, "imap", a.cfg.IMAP.Address, "smtp", a.cfg.SMTP.Address,
		"store", a.cfg.Store.Path, "metrics", a.cfg.Metrics.Listen, "config", a.cfgFile)
	err = d.Run(ctx)
	log.Info("supportd stopped")
	return err
}

// serveMetrics serves /metrics, /healthz and, when admin is set and the listener
// is on loopback, the admin API (admin.go: /backup and the customer changes the
// CLI sends while run holds the store's file lock).
func serveMetrics(addr string, m *daemon.Metrics, p *poller.Poller, admin *adminAPI, log *slog.Logger) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		st := p.Stats()
		if !st.Connected {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "imap: not connected (last error: %v)\n", st.LastError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if admin != nil && isLoopbackHost(host) {
		admin.register(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}
