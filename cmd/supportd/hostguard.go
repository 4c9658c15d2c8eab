package main

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// hostGuard lets through only requests addressed to the listener itself
// (issue 13 item 9): a Host that is an IP literal, "localhost", or the host
// name metrics.listen was given, on the listener's port. DNS rebinding —
// a web page whose own name an attacker re-points at 127.0.0.1 — reaches
// the listener with the attacker's name in Host and is refused with 421
// Misdirected Request before any handler (/metrics, /healthz, the admin
// API) runs.
func hostGuard(listen, bound string, next http.Handler) http.Handler {
	_, port, _ := net.SplitHostPort(bound)
	names := map[string]bool{"localhost": true}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		names[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ownHost(r.Host, port, names) {
			http.Error(w, "misdirected request: Host is not this listener's address", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func ownHost(hostport, port string, names map[string]bool) bool {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		host, p = hostport, "80" // no port: HTTP's default
	}
	if p != port {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true // an address cannot be re-pointed by DNS
	}
	return names[host]
}
