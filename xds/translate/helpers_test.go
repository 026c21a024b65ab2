package translate

import (
	"testing"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/discovery/file"
	"github.com/spillway/spillway/policy"
)

// loadConfig loads a config file the way spillway does: decoded,
// defaulted and validated.
func loadConfig(t testing.TB, path string) *policy.Config {
	t.Helper()
	cfg, err := policy.Load(path)
	if err != nil {
		t.Fatalf("loading config: %v", err)
	}
	return cfg
}

// loadCatalog reads a catalog in the discovery file format.
func loadCatalog(t testing.TB, path string) *discovery.Catalog {
	t.Helper()
	cat, err := file.Load(path)
	if err != nil {
		t.Fatalf("loading catalog: %v", err)
	}
	return cat
}
