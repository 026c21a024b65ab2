package filewatch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stamp identifies one version of a file cheaply: which file it is (so a
// replacement shows), its size and its mtime.
type stamp struct {
	info os.FileInfo
}

// same reports whether a and b are very likely the same version of a file.
func (a stamp) same(b stamp) bool {
	return a.info != nil && b.info != nil && os.SameFile(a.info, b.info) &&
		a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

// statFile returns the stamp of the file at path.
func statFile(path string) (stamp, error) {
	info, err := os.Stat(path)
	return stamp{info: info}, err
}

// readFile reads at most limit bytes of the file at path, with the stamp of
// what was read, both from one open file so that they belong together.
// Its errors name the path; a larger file is an error.
func readFile(path string, limit int64) ([]byte, stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, stamp{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, stamp{}, err
	}
	if int64(len(data)) > limit {
		return nil, stamp{}, fmt.Errorf("%s: larger than %s", path, size(limit))
	}
	return data, stamp{info: info}, nil
}

// size writes n bytes in MiB when it is a whole number of them.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// realPath returns path with its symlinks resolved, or path cleaned when
// they cannot be.
func realPath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	return filepath.Clean(path)
}

// ReadFile reads the file at path as Watch does, for callers that read it
// once: at most maxSize bytes (DefaultMaxSize when maxSize is 0 or less), a
// larger file being an error. Its errors name the path.
func ReadFile(path string, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	data, _, err := readFile(path, maxSize)
	return data, err
}
