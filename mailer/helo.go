package mailer

import (
	"context"
	"net"
	"os"
	"strings"
	"time"
)

// HostFQDN is the default EHLO name: the machine's host name when it is fully
// qualified, else the canonical name the resolver gives for it (/etc/hosts,
// DNS), else an FQDN found by reverse lookup of its addresses; "localhost"
// when nothing better is known (set smtp.helo_name then).
func HostFQDN() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	h = strings.TrimSuffix(h, ".")
	if isFQDN(h) {
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := net.DefaultResolver
	if c, err := r.LookupCNAME(ctx, h); err == nil && isFQDN(strings.TrimSuffix(c, ".")) {
		return strings.TrimSuffix(c, ".")
	}
	addrs, _ := r.LookupHost(ctx, h)
	for _, a := range addrs {
		names, _ := r.LookupAddr(ctx, a)
		for _, n := range names {
			if n = strings.TrimSuffix(n, "."); isFQDN(n) {
				return n
			}
		}
	}
	return h
}

// isFQDN: a dotted name that is not a loopback alias.
func isFQDN(h string) bool {
	l := strings.ToLower(h)
	return strings.Contains(h, ".") && net.ParseIP(h) == nil && l != "localhost.localdomain" && !strings.HasPrefix(l, "localhost.")
}
