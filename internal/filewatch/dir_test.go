package filewatch

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway/spillway/internal/filewatch/filewatchtest"
)

// logLines is an io.Writer for a text slog handler that hands each line
// to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	filewatchtest.Offer(l, string(p))
	return len(p), nil
}

// wait waits for a line that contains s.
func (l logLines) wait(t *testing.T, s string) {
	t.Helper()
	for {
		if line := filewatchtest.Receive(t, l, "log line"); strings.Contains(line, s) {
			return
		}
	}
}

func TestWatchDirectoryCreatedLater(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "file")
	lines := make(logLines, 1000)
	log := slog.New(slog.NewTextHandler(lines, nil))
	w := watch(t, path, Options{Poll: fastPoll, Log: log})
	lines.wait(t, `msg="cannot watch directory yet`)
	w.expectErr(t, fs.ErrNotExist)

	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lines.wait(t, `msg="watching directory"`)
	filewatchtest.WriteRename(t, path, contentA)
	w.expect(t, contentA)
}
