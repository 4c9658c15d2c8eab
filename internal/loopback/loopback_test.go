package loopback

import "testing"

func TestHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "localhost.": true,
		"127.0.0.1": true, "127.8.9.10": true, "::1": true, "[::1]": true, "::ffff:127.0.0.1": true, "[::ffff:127.0.0.1]": true, "::1%lo": true,
		"": false, "localhost.localdomain": false, "evil.localhost": false, "localhost..": false, "[localhost]": false,
		"128.0.0.1": false, "0.0.0.0": false, "::": false, "[::2]": false, "192.0.2.1": false, "example.com": false, "[::1": false,
	} {
		if got := Host(host); got != want {
			t.Errorf("Host(%q) = %v, want %v", host, got, want)
		}
	}
}
