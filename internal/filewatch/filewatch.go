// Package filewatch reports changes to the content of one file, however it
// is changed: written in place, replaced by a rename (as editors and
// atomic writers do), or swapped behind a symlink (as Kubernetes does with
// mounted ConfigMaps).
package filewatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options tune Watch. Zero values take the defaults.
type Options struct {
	// Debounce waits this long after an event before reading, so that a
	// burst of writes is read once. Default 50 ms.
	Debounce time.Duration
	// Poll re-reads the file at this interval in case an event was missed
	// (network file systems send none). Default 2 s.
	Poll time.Duration
}

// Watch calls fn with the file's content at once, and again each time the
// content differs from the last call; a read error is passed as err, once
// per distinct error. It returns when ctx ends, or when the directory
// cannot be watched. fn runs on Watch's goroutine.
func Watch(ctx context.Context, path string, opts Options, fn func(data []byte, err error)) error {
	opts = withDefaults(opts)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}

	var r reader
	r.read(path, fn)
	poll := time.NewTicker(opts.Poll)
	defer poll.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Events:
			// Any event in the directory may concern the file: a symlink
			// swap renames a sibling. Reading is cheap; the hash decides.
			debounce.Reset(opts.Debounce)
		case err := <-w.Errors:
			r.fail(fmt.Errorf("watching %s: %w", path, err), fn)
		case <-debounce.C:
			r.read(path, fn)
		case <-poll.C:
			r.read(path, fn)
		}
	}
}

func withDefaults(o Options) Options {
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	return o
}

// reader remembers what fn was last told, so that it is told only changes.
type reader struct {
	sum    [sha256.Size]byte
	seen   bool
	errMsg string
}

func (r *reader) read(path string, fn func([]byte, error)) {
	data, err := os.ReadFile(path)
	if err != nil {
		r.fail(err, fn)
		return
	}
	sum := sha256.Sum256(data)
	if r.seen && r.errMsg == "" && bytes.Equal(sum[:], r.sum[:]) {
		return
	}
	r.sum, r.seen, r.errMsg = sum, true, ""
	fn(data, nil)
}

func (r *reader) fail(err error, fn func([]byte, error)) {
	if err.Error() == r.errMsg {
		return
	}
	r.errMsg = err.Error()
	fn(nil, err)
}
