package filewatch

import (
	"log/slog"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// dirWatch is the change-event side of a Watch: an fsnotify watch on the
// file's directory. Without one (events are turned off, the platform has
// none, or the process ran out of inotify watches) it delivers nothing
// and the poll carries on alone.
type dirWatch struct {
	w    *fsnotify.Watcher
	log  *slog.Logger
	path string // the watched file, as given
	dir  string
	name string
}

// watchDir starts watching the directory of the file at path. A directory
// that does not exist yet is watched once it does, from the poll (retry).
func watchDir(path string, opts Options) *dirWatch {
	d := &dirWatch{log: opts.Log, path: path, dir: filepath.Dir(path), name: filepath.Base(path)}
	if opts.PollOnly {
		return d
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("cannot watch file, polling it", "path", path, "err", err)
		return d
	}
	d.w = fw
	if err := fw.Add(d.dir); err != nil {
		d.log.Warn("cannot watch directory yet, polling the file", "path", path, "err", err)
	}
	return d
}

// events returns the channel of change events, nil (never ready) without a
// watcher.
func (d *dirWatch) events() <-chan fsnotify.Event {
	if d.w == nil {
		return nil
	}
	return d.w.Events
}

// errors returns the channel of watch errors, nil without a watcher.
func (d *dirWatch) errors() <-chan error {
	if d.w == nil {
		return nil
	}
	return d.w.Errors
}

// relevant reports whether ev may have changed the file. Events name
// entries of the directory: the file's own name counts, and so does any
// entry that changes where the file's symlinks lead (a ConfigMap volume
// swaps its "..data" link, never touching the file's name). real is where
// they led when the file was last read.
func (d *dirWatch) relevant(ev fsnotify.Event, real string) bool {
	if filepath.Base(ev.Name) == d.name {
		return true
	}
	return real != filepath.Clean(d.path) && realPath(d.path) != real
}

// retry watches the directory again if the watch is gone, as it is when
// the directory was missing at start or has been removed since.
func (d *dirWatch) retry() {
	if d.w == nil || len(d.w.WatchList()) > 0 {
		return
	}
	if err := d.w.Add(d.dir); err == nil {
		d.log.Info("watching directory", "path", d.path)
	}
}

// close stops the watcher, if there is one.
func (d *dirWatch) close() {
	if d.w != nil {
		d.w.Close()
	}
}
