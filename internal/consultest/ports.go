package consultest

import (
	"net"
	"testing"
)

// freePorts picks distinct loopback ports that are free right now. Serf
// ports must be free for both TCP and UDP. All probes stay open until every
// port is chosen, so the four never collide with each other; another
// process may still take one before the agent binds it, which is rare
// enough for tests and shows up as a clear start failure.
func freePorts(t testing.TB) ports {
	t.Helper()
	var closers []interface{ Close() error }
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	pick := func(udp bool) int {
		for range 50 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("finding a free port: %v", err)
			}
			closers = append(closers, l)
			port := l.Addr().(*net.TCPAddr).Port
			if !udp {
				return port
			}
			u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err != nil {
				continue
			}
			closers = append(closers, u)
			return port
		}
		t.Fatalf("finding a free port: no port free for both TCP and UDP")
		return 0
	}
	return ports{http: pick(false), serfLAN: pick(true), serfWAN: pick(true), server: pick(false)}
}
