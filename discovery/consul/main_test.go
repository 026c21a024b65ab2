package consul

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// watch must end with Run, and Run must close its idle connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
