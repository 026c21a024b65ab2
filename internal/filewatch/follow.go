package filewatch

import (
	"crypto/sha256"
	"time"
)

// follower is the state of one Watch: what was last read, and what its
// caller was last told.
type follower struct {
	path string
	opts Options
	fn   func(data []byte, err error)

	ok      bool              // whether the last read worked
	sum     [sha256.Size]byte // hash of the content last read
	stamp   stamp             // the file's identity when last read
	real    string            // the file's path, symlinks resolved, when last read
	lastErr string            // the error fn was last given; "" after a good read
}

// read reads the file and tells fn if its content is new or the read
// failed in a new way.
func (f *follower) read() {
	start := time.Now()
	data, st, err := readFile(f.path, f.opts.MaxSize)
	if f.opts.OnRead != nil {
		f.opts.OnRead(time.Since(start), err)
	}
	f.real = realPath(f.path)
	if err != nil {
		f.fail(err)
		return
	}
	f.stamp = st

	sum := sha256.Sum256(data)
	if f.ok && sum == f.sum {
		f.opts.Log.Debug("file unchanged", "path", f.path)
		return
	}
	f.ok, f.sum, f.lastErr = true, sum, ""
	f.fn(data, nil)
}

// fail tells fn of a failed read, unless it was told of the same error
// last, so that a file left missing does not repeat itself every poll.
func (f *follower) fail(err error) {
	f.ok = false
	if msg := err.Error(); msg == f.lastErr {
		f.opts.Log.Debug("file still unreadable", "path", f.path, "err", err)
		return
	}
	f.lastErr = err.Error()
	f.fn(nil, err)
}

// stale reports whether the poll should read the file: the last read
// failed (so try again), or it is no longer the file, size or mtime last
// read.
func (f *follower) stale() bool {
	if !f.ok {
		return true
	}
	st, err := statFile(f.path)
	return err != nil || !st.same(f.stamp)
}
