package poller

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// tokenEndpoint is an OAuth2 token endpoint on loopback that swaps the
// refresh token "rt-1" for the access token "fresh-token".
func tokenEndpoint(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "refresh_token" || r.Form.Get("refresh_token") != "rt-1" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": "fresh-token", "token_type": "Bearer", "expires_in": 3600,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestXOAUTH2RefreshesExpiredToken(t *testing.T) {
	ts := newTestServer(t, withCaps("IMAP4rev1"), withXOAUTH2("fresh-token"))
	ts.appendMsg("INBOX", testMessage(1))
	tokSrv, calls := tokenEndpoint(t)

	oc := &oauth2.Config{ClientID: "supportd", Endpoint: oauth2.Endpoint{TokenURL: tokSrv.URL}}
	expired := &oauth2.Token{AccessToken: "stale-token", RefreshToken: "rt-1", Expiry: time.Now().Add(-time.Hour)}
	cfg := ts.config(t)
	cfg.Password = ""
	cfg.TokenSource = oc.TokenSource(context.Background(), expired)

	h := newRecHandler()
	p := runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)
	if calls.Load() != 1 {
		t.Errorf("token endpoint called %d times, want 1", calls.Load())
	}
	if ts.oauthSeen.Load() < 1 {
		t.Error("server saw no XOAUTH2 exchange")
	}
	st := p.Stats()
	if st.TokenWarning || time.Until(st.TokenExpiry) < 50*time.Minute {
		t.Errorf("stats token expiry %v warning %v, want the refreshed token's hour", st.TokenExpiry, st.TokenWarning)
	}
}

func TestXOAUTH2WrongTokenRefused(t *testing.T) {
	ts := newTestServer(t, withCaps("IMAP4rev1"), withXOAUTH2("fresh-token"))
	cfg := ts.config(t)
	cfg.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "wrong"})
	done := make(chan error, 1)
	go func() {
		_, err := connectOnce(context.Background(), cfg)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "XOAUTH2") || strings.Contains(err.Error(), "wrong") {
			t.Errorf("Connect = %v, want an XOAUTH2 failure that does not echo the token", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("XOAUTH2 failure hung (the empty response after the error challenge was not sent)")
	}
	// LOGIN with a password is refused by this server: only the token works.
	cfg.TokenSource = nil
	if _, err := connectOnce(context.Background(), cfg); err == nil {
		t.Error("LOGIN accepted by an XOAUTH2-only server")
	}
}

func TestTokenExpiringSoonWarns(t *testing.T) {
	ts := newTestServer(t, withCaps("IMAP4rev1"), withXOAUTH2("short-lived"))
	ts.appendMsg("INBOX", testMessage(1))
	cfg := ts.config(t)
	// A static source cannot refresh: the token expires in 5 minutes.
	cfg.TokenSource = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "short-lived", Expiry: time.Now().Add(5 * time.Minute)})
	h := newRecHandler()
	p := runPoller(t, cfg, h)
	h.wait(t, 1, 5*time.Second)
	if st := p.Stats(); !st.TokenWarning {
		t.Errorf("stats %+v, want TokenWarning", st)
	}
}

func TestTokenRefreshFailureReported(t *testing.T) {
	ts := newTestServer(t, withCaps("IMAP4rev1"), withXOAUTH2("fresh-token"))
	tokSrv, _ := tokenEndpoint(t)
	oc := &oauth2.Config{ClientID: "supportd", Endpoint: oauth2.Endpoint{TokenURL: tokSrv.URL}}
	revoked := &oauth2.Token{AccessToken: "stale", RefreshToken: "rt-revoked", Expiry: time.Now().Add(-time.Minute)}
	cfg := ts.config(t)
	cfg.TokenSource = oc.TokenSource(context.Background(), revoked)
	p := runPoller(t, cfg, newRecHandler())
	waitFor(t, 5*time.Second, "token error", func() bool { return p.Stats().LastError != nil })
	st := p.Stats()
	if !st.TokenWarning || !strings.Contains(st.LastError.Error(), "oauth2") || st.Connected {
		t.Errorf("stats %+v, want a token warning and an oauth2 error", st)
	}
}
