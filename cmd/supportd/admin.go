package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"supportd/daemon"
	"supportd/dashboard"
	"supportd/store"
)

// The admin API is the loopback-only part of the metrics listener through which
// the CLI reaches a store that `supportd run` holds (bbolt allows one process per
// file): GET /backup (a consistent copy, also used by the reading commands),
// POST /customers/import (a CSV body), POST /customers/set (form values named
// like the flags of `customers set`) and POST /customers/delete (id). So a renewal recorded at 3 a.m. takes effect
// on the next message without stopping the daemon.
//
// Every request carries the token that run writes next to the store
// (store.path + ".admin-token", mode 0600, removed at exit): whoever can read the
// store file can use the API, other users of the host cannot. The file also
// holds the address run actually listens on (an IP literal), and the CLI dials
// exactly that: "localhost" may resolve to ::1 first, where another local user
// could listen and collect the token. A CLI that takes the store's write lock
// itself deletes a token file left by a killed daemon.
type adminAPI struct {
	db    *store.DB
	token string
	log   *slog.Logger
	loc   *time.Location // support.timezone, for the dashboard (nil: UTC)
	mu    sync.Mutex     // one customer change at a time
	// engine applies ticket state changes; wake tells the daemon's SLA loop
	// that a due time may have moved.
	engine *daemon.Engine
	wake   func()
}

// adminTokenPath is where run writes the admin token of the store at storePath.
func adminTokenPath(storePath string) string { return storePath + ".admin-token" }

// adminToken is the content of the token file.
type adminToken struct {
	Addr  string `json:"addr"` // the listener's IP:port
	Token string `json:"token"`
	PID   int    `json:"pid"`
}

// newAdminToken returns a fresh random token.
func newAdminToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeAdminToken writes tok and the listener's address addr for the store at
// storePath and returns a function that removes the file.
func writeAdminToken(storePath, tok, addr string) (func(), error) {
	raw, err := json.Marshal(adminToken{Addr: addr, Token: tok, PID: os.Getpid()})
	if err != nil {
		return nil, err
	}
	path := adminTokenPath(storePath)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".supportd-token-*")
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(append(raw, '\n'))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("admin token %s: %w", path, err)
	}
	return func() { os.Remove(path) }, nil
}

// readAdminToken reads the token file of the store at storePath and checks that
// its address is a loopback IP literal.
func readAdminToken(storePath string) (adminToken, error) {
	var t adminToken
	raw, err := os.ReadFile(adminTokenPath(storePath))
	if err != nil {
		return t, fmt.Errorf("the running supportd's admin token: %w (run this as the user that runs supportd run)", err)
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.Token == "" {
		return t, fmt.Errorf("the running supportd's admin token %s is unreadable: restart supportd run", adminTokenPath(storePath))
	}
	host, _, err := net.SplitHostPort(t.Addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return t, fmt.Errorf("the running supportd's admin token %s names %q, not a loopback address", adminTokenPath(storePath), t.Addr)
	}
	return t, nil
}

func (api *adminAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /backup", api.auth(api.backup))
	mux.HandleFunc("GET /backup/archive", api.auth(api.backupArchive))
	mux.HandleFunc("POST /customers/import", api.auth(api.importCustomers))
	mux.HandleFunc("POST /customers/set", api.auth(api.setCustomer))
	mux.HandleFunc("POST /customers/delete", api.auth(api.deleteCustomer))
	mux.HandleFunc("POST /outbox/retry", api.auth(api.outboxRetry))
	// The staff dashboard (read-only, behind the same token: see dashboard/).
	mux.Handle("/", dashboard.New(dashboard.Options{DB: api.db, Token: api.token, Location: api.loc, Logger: api.log}))
	mux.HandleFunc("POST /tickets/state", api.auth(api.ticketState))
}

// ticketState closes or reopens a ticket (`supportd tickets close|reopen`
// while run holds the store).
func (api *adminAPI) ticketState(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if api.engine == nil {
		http.Error(w, "ticket changes are not available on this listener", http.StatusNotImplemented)
		return
	}
	id, state := r.PostForm.Get("id"), r.PostForm.Get("state")
	err := api.db.Update(func(tx *store.Tx) error {
		_, err := api.engine.SetTicketState(tx, id, state, time.Now())
		return err
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	if api.wake != nil {
		api.wake()
	}
	api.log.Info("ticket state changed through the admin API", "ticket", id, "state", state)
	fmt.Fprintln(w, state)
}

func (api *adminAPI) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(api.token)) != 1 {
			api.log.Warn("admin request refused: missing or wrong token", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(w, "missing or wrong admin token (the supportd CLI reads it from store.path + \".admin-token\")", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// backupWriteTimeout bounds a snapshot download: the copy holds a bbolt read
// transaction, and a writer that must grow the file waits for it, so a stalled
// client (a suspended CLI) must not hold the daemon's commits for long.
const backupWriteTimeout = 2 * time.Minute

func (api *adminAPI) backup(w http.ResponseWriter, r *http.Request) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	w.Header().Set("Content-Type", "application/octet-stream")
	if _, err := api.db.Backup(w); err != nil {
		api.log.Error("backup over HTTP failed", "err", err)
		// Abort the response so the client sees a broken transfer, never a
		// truncated copy that looks complete.
		panic(http.ErrAbortHandler)
	}
}

// backupArchive streams the backup archive (store and raw copies, see
// store.WriteBackup). Its size grows with the raw copies, so the write
// deadline moves on with every write: a client that stops reading is cut off
// after backupWriteTimeout (releasing the store's read transaction), a slow
// one that keeps reading is not.
func (api *adminAPI) backupArchive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/gzip")
	dw := deadlineWriter{w: w, rc: http.NewResponseController(w)}
	if _, err := api.db.WriteBackup(dw); err != nil {
		api.log.Error("backup archive over HTTP failed", "err", err)
		panic(http.ErrAbortHandler) // the client sees a broken transfer
	}
}

type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	return d.w.Write(p)
}

func (api *adminAPI) importCustomers(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	defer api.mu.Unlock()
	// The request context ends when the client goes away: the import then
	// stops and changes nothing, as the CLI reports.
	st, err := api.db.ImportCustomersContext(r.Context(), r.Body, nil)
	var csvErr *store.CSVError
	switch {
	case errors.As(err, &csvErr):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	case err != nil:
		api.log.Error("customer import through the admin API failed", "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	api.log.Info("customers imported through the admin API", "rows", st.Rows, "added", st.Added, "updated", st.Updated, "unchanged", st.Unchanged)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func (api *adminAPI) setCustomer(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("id")
	create := r.PostForm.Get("create") == "true"
	changes := map[string]string{}
	for k, v := range r.PostForm {
		if k != "id" && k != "create" && len(v) > 0 {
			changes[k] = v[0]
		}
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	changed, err := setCustomer(api.db, id, create, changes)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	if !changed {
		fmt.Fprintln(w, "unchanged")
		return
	}
	api.log.Info("customer changed through the admin API", "customer", id, "fields", strings.Join(sortedKeys(changes), ","))
	fmt.Fprintln(w, "changed")
}

func (api *adminAPI) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("id")
	api.mu.Lock()
	defer api.mu.Unlock()
	if err := api.db.Update(func(tx *store.Tx) error { return tx.DeleteCustomer(id) }); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			http.Error(w, "no customer "+id, http.StatusNotFound)
			return
		}
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	api.log.Info("customer deleted through the admin API", "customer", id)
}

// adminRequest sends one request to the running daemon's admin API with the
// token of a.cfg.Store.Path. A non-2xx answer is an error carrying its text.
func (a *app) adminRequest(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	tok, err := readAdminToken(a.cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+tok.Addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &adminRefusal{Status: resp.StatusCode, Msg: strings.TrimSpace(string(msg))}
	}
	return resp, nil
}

// adminRefusal is the daemon's answer to a request it did not carry out.
type adminRefusal struct {
	Status int
	Msg    string
}

func (e *adminRefusal) Error() string { return e.Msg }

// viaDaemon says what a writing command does when run holds the store, or why it
// cannot. It returns nil when the command should go through the admin API.
func (a *app) viaDaemon(err error) error {
	if !errors.Is(err, store.ErrLocked) {
		return err
	}
	if a.cfg.Metrics.Listen == "" {
		return fmt.Errorf("%w; metrics.listen is empty, so the change cannot go through the running daemon: stop it, or set metrics.listen", err)
	}
	fmt.Fprintf(a.stderr, "note: store.path %s is held by a running supportd; changing it through its admin API at metrics.listen %s\n", a.cfg.Store.Path, a.cfg.Metrics.Listen)
	return nil
}

// importViaDaemon streams the CSV to the running daemon.
func (a *app) importViaDaemon(ctx context.Context, csv io.Reader) (store.ImportStats, error) {
	var st store.ImportStats
	resp, err := a.adminRequest(ctx, http.MethodPost, "/customers/import", "text/csv", csv)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// setViaDaemon sends a customers set to the running daemon; it reports whether
// the customer changed.
func (a *app) setViaDaemon(ctx context.Context, id string, create bool, changes map[string]string) (bool, error) {
	form := url.Values{"id": {id}}
	if create {
		form.Set("create", "true")
	}
	for k, v := range changes {
		form.Set(k, v)
	}
	resp, err := a.adminRequest(ctx, http.MethodPost, "/customers/set", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
	return strings.TrimSpace(string(b)) != "unchanged", nil
}

// ticketStateViaDaemon asks the running daemon to close or reopen a ticket.
func (a *app) ticketStateViaDaemon(ctx context.Context, id, state string) error {
	form := url.Values{"id": {id}, "state": {state}}
	resp, err := a.adminRequest(ctx, http.MethodPost, "/tickets/state", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// deleteViaDaemon sends a customers delete to the running daemon.
func (a *app) deleteViaDaemon(ctx context.Context, id string) error {
	form := url.Values{"id": {id}}
	resp, err := a.adminRequest(ctx, http.MethodPost, "/customers/delete", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// backupFromDaemon downloads the running daemon's consistent copy of the
// store into path (0600, written to a temporary file, synced, then renamed).
func (a *app) backupFromDaemon(ctx context.Context, path string) error {
	return a.downloadFromDaemon(ctx, "/backup", path, nil)
}

// archiveFromDaemon downloads the running daemon's backup archive (store and
// raw copies) into path, checked completely before it is renamed into place.
func (a *app) archiveFromDaemon(ctx context.Context, path string) (store.BackupStats, error) {
	var st store.BackupStats
	err := a.downloadFromDaemon(ctx, "/backup/archive", path, func(tmp string) error {
		var err error
		st, err = store.VerifyBackupFile(tmp)
		if err != nil {
			return fmt.Errorf("backup to %s: what the running supportd sent: %w", path, err)
		}
		return nil
	})
	return st, err
}

// downloadFromDaemon GETs an admin endpoint into path through a synced 0600
// temporary file that check (when set) approves before the rename.
// Errors name their real cause: the output file ("backup to FILE: …") or the
// daemon ("fetching the backup from the running supportd … failed: …").
func (a *app) downloadFromDaemon(ctx context.Context, endpoint, path string, check func(tmp string) error) error {
	local := func(err error) error { return fmt.Errorf("backup to %s: %w", path, err) }
	// The output first: a bad path is the operator's to fix, not the daemon's.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".supportd-backup-*")
	if err != nil {
		return local(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return local(err)
	}
	resp, err := a.adminRequest(ctx, http.MethodGet, endpoint, "", nil)
	if err != nil {
		return fmt.Errorf("store.path %s is held by a running supportd and fetching the backup from it (metrics.listen %s) failed: %w", a.cfg.Store.Path, a.cfg.Metrics.Listen, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		return fmt.Errorf("backup to %s: receiving it from the running supportd: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return local(err)
	}
	if err := tmp.Close(); err != nil {
		return local(err)
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return local(err)
	}
	return nil
}

// adminTimeout bounds a request to the admin API (an import of a million rows
// takes seconds; a daemon that does not answer must not hang the operator).
const adminTimeout = 10 * time.Minute
