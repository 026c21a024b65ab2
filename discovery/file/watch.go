package file

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// maxFileSize bounds what is read, so that pointing the source at the wrong
// file cannot exhaust memory. Catalogs of thousands of instances are a few
// hundred kilobytes.
const maxFileSize = 64 << 20

// watch is the change-event side of a Source: an fsnotify watch on the
// file's directory. Without one (the platform has no events, or the
// process ran out of inotify watches) it delivers nothing and the poll
// carries on alone.
type watch struct {
	src  *Source
	w    *fsnotify.Watcher
	dir  string
	name string
}

// newWatch starts watching the directory of the source's file. A directory
// that does not exist yet is watched once it does, from the poll.
func (s *Source) newWatch() *watch {
	w := &watch{src: s, dir: filepath.Dir(s.path), name: filepath.Base(s.path)}
	if !s.notify {
		return w
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch catalog file, polling it", "path", s.path, "err", err)
		return w
	}
	w.w = fw
	if err := fw.Add(w.dir); err != nil {
		s.log.Warn("cannot watch catalog directory yet, polling it", "path", s.path, "err", err)
	}
	return w
}

// events returns the channel of change events, nil (never ready) without a
// watcher.
func (w *watch) events() <-chan fsnotify.Event {
	if w.w == nil {
		return nil
	}
	return w.w.Events
}

// errors returns the channel of watch errors, nil without a watcher.
func (w *watch) errors() <-chan error {
	if w.w == nil {
		return nil
	}
	return w.w.Errors
}

// relevant reports whether ev may have changed the file. Events name
// entries of the directory: the file's own name counts, and so does any
// entry that changes where the file's symlinks lead (a ConfigMap volume
// swaps its "..data" link, never touching the file's name). real is where
// they led when the file was last read.
func (w *watch) relevant(ev fsnotify.Event, real string) bool {
	if filepath.Base(ev.Name) == w.name {
		return true
	}
	clean := filepath.Clean(w.src.path)
	return real != clean && realPath(w.src.path) != real
}

// retry watches the directory again if the watch is gone, as it is when
// the directory was missing at start or has been removed since.
func (w *watch) retry() {
	if w.w == nil || len(w.w.WatchList()) > 0 {
		return
	}
	if err := w.w.Add(w.dir); err == nil {
		w.src.log.Info("watching catalog directory", "path", w.src.path)
	}
}

// close stops the watcher, if there is one.
func (w *watch) close() {
	if w.w != nil {
		w.w.Close()
	}
}

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

// readFile reads the file at path with the stamp of what was read, both
// from one open file so that they belong together.
func readFile(path string) ([]byte, stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reading catalog: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reading catalog: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, stamp{}, fmt.Errorf("reading catalog: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, stamp{}, fmt.Errorf("reading catalog %s: larger than %d MiB",
			path, maxFileSize>>20)
	}
	return data, stamp{info: info}, nil
}

// realPath returns path with its symlinks resolved, or path cleaned when
// they cannot be.
func realPath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	return filepath.Clean(path)
}
