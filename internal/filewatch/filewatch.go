// Package filewatch follows the content of one file, however it is changed:
// written in place, replaced by a rename (as editors and atomic writers
// do), or swapped behind a symlink (as Kubernetes does with mounted
// ConfigMaps).
//
// Change events come from the file's directory rather than the file,
// because a file that is replaced takes its watch with it. A slow poll of
// the file's identity, size and mtime backs the events up, for file
// systems and platforms that drop them or send none. A hash of the content
// decides what counts as a change, so that a touch or a rewrite with the
// same bytes is no change.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of Options.
const (
	DefaultDebounce = 100 * time.Millisecond
	DefaultPoll     = 2 * time.Second
	// DefaultMaxSize bounds what is read, so that a watch pointed at the
	// wrong file cannot exhaust memory.
	DefaultMaxSize = 64 << 20
)

// Options tune Watch. Zero values take the defaults.
type Options struct {
	// Debounce is how long the directory must stay quiet after an event
	// before the file is read, so that a burst of writes is read once.
	Debounce time.Duration
	// Poll is how often the file's identity, size and mtime are checked in
	// case an event was missed; the file is read when they change.
	Poll time.Duration
	// MaxSize is the largest file read, in bytes; a larger one is an error.
	MaxSize int64
	// PollOnly turns change events off, leaving the poll alone; tests use
	// it to check the poll.
	PollOnly bool
	// Log receives the watch's own troubles (no events, a lost directory)
	// and, at debug level, reads that changed nothing. Nil discards them.
	Log *slog.Logger
	// OnRead, when set, is told of every read: how long it took and its
	// error, whether or not the content changed. Callers count reads with
	// it; it runs on Watch's goroutine.
	OnRead func(took time.Duration, err error)
}

// Watch calls fn with the file's content at once, then again each time the
// content differs from the last call, until ctx ends; it then returns nil.
// A read that fails calls fn with the error instead, once per distinct
// error, and the next successful read calls fn even if the content is
// what it was before. fn runs on Watch's goroutine, so a slow fn delays
// the next read. Watch returns an error only for invalid options.
func Watch(ctx context.Context, path string, opts Options, fn func(data []byte, err error)) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}

	// Watch before the first read, so that a change in between is seen.
	d := watchDir(path, opts)
	defer d.close()
	f := &follower{path: path, opts: opts, fn: fn}
	f.read()

	poll := time.NewTicker(opts.Poll)
	defer poll.Stop()
	quiet := time.NewTimer(opts.Debounce)
	quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-d.events():
			if d.relevant(ev, f.real) {
				quiet.Reset(opts.Debounce)
			}
		case err := <-d.errors():
			// Most often an overflow: events were lost, so look again.
			opts.Log.Warn("watching file", "path", path, "err", err)
			quiet.Reset(opts.Debounce)
		case <-quiet.C:
			f.read()
		case <-poll.C:
			d.retry()
			if f.stale() {
				f.read()
			}
		}
	}
}

// withDefaults returns o with its zero values replaced by the defaults, or
// an error naming the first negative field.
func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Debounce < 0:
		return o, fmt.Errorf("debounce %v is negative", o.Debounce)
	case o.Poll < 0:
		return o, fmt.Errorf("poll interval %v is negative", o.Poll)
	case o.MaxSize < 0:
		return o, fmt.Errorf("maximum size %d is negative", o.MaxSize)
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Poll == 0 {
		o.Poll = DefaultPoll
	}
	if o.MaxSize == 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
