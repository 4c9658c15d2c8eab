// Package loopback answers one question for every part of supportd that
// allows plain text or an admin API only on this machine: is a host a
// loopback address? No DNS lookup is made, so a name other than localhost is
// never loopback, whatever it resolves to.
package loopback

import (
	"net/netip"
	"strings"
)

// Host reports whether host (a name or an IP literal, without port; IPv6 may
// be bracketed) is loopback: 127.0.0.0/8, ::1 (also IPv4-mapped, also with a
// zone) or "localhost" in any case, with or without the root's trailing dot.
func Host(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return addr.Unmap().IsLoopback()
}
