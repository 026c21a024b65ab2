package filewatch

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway/spillway/internal/filewatch/filewatchtest"
)

func TestReadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "file")
	content := strings.Repeat("x", 1<<20+1)
	filewatchtest.WriteInPlace(t, path, content)
	tests := []struct {
		name    string
		maxSize int64
		wantErr string
	}{
		{name: "default limit", maxSize: 0},
		{name: "at the limit", maxSize: 1<<20 + 1},
		{name: "over a limit in MiB", maxSize: 1 << 20, wantErr: path + ": larger than 1 MiB"},
		{name: "over a limit in bytes", maxSize: 1<<20 - 1,
			wantErr: path + ": larger than 1048575 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ReadFile(path, tt.maxSize)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ReadFile error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(data) != content {
				t.Fatalf("ReadFile = %d bytes, %v; want %d bytes", len(data), err, len(content))
			}
		})
	}
}
