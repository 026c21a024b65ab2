package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: Serve,
// its Consul watches and every client must stop with their test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
