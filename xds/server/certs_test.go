package server_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeFile writes data to name in dir and returns the path. Each write
// moves the modification time forward by a second, so that a reload
// check sees it whatever the file system's time resolution.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var next time.Time
	if info, err := os.Stat(p); err == nil {
		next = info.ModTime().Add(time.Second)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if !next.IsZero() {
		if err := os.Chtimes(p, next, next); err != nil {
			t.Fatal(err)
		}
	}
	return p
}
