package file

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkAddress returns why s is not an instance address (an IP address or
// a hostname), or "" when it is one.
func checkAddress(s string) string {
	if _, err := netip.ParseAddr(s); err == nil || isHostname(s) {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if _, perr := strconv.ParseUint(port, 10, 16); err == nil && perr == nil &&
		checkAddress(host) == "" {
		return "must not include the port; set port instead"
	}
	return "must be an IP address or a hostname"
}

// isHostname reports whether s is a DNS hostname. Underscores are allowed,
// as Go's resolver allows them and container platforms use them. A name
// whose last label is all digits is refused: it is a mistyped IP address,
// such as 10.0.0.256.
func isHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' })
}

// isLabel reports whether l is one label of a hostname.
func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, r := range l {
		ok := r == '-' || r == '_' || '0' <= r && r <= '9' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}
