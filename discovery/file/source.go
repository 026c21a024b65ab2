package file

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"time"

	"github.com/spillway/spillway/discovery"
)

// metricsSource is the source label of this package's metrics.
const metricsSource = "file"

// Defaults for how the file is watched; see Source.
const (
	defaultDebounce = 100 * time.Millisecond
	defaultPoll     = 2 * time.Second
)

// Source delivers the catalog held in one file, and again each time the
// file's content changes. It implements discovery.Source.
//
// Change events come from the file's directory rather than the file, because
// editors, mv and Kubernetes ConfigMap volumes replace the file instead of
// writing into it. A slow poll of the file's identity, size and mtime backs
// the events up, for file systems and platforms that drop them.
type Source struct {
	path string
	log  *slog.Logger
	m    *discovery.Metrics

	// debounce is how long the directory must stay quiet after an event
	// before the file is read, so that a burst of writes is read once.
	debounce time.Duration
	// poll is how often the file is checked in case an event was missed.
	poll time.Duration
	// notify turns change events on; tests turn it off to check the poll.
	notify bool
}

// New returns a source for the catalog file at path. log may be nil to
// discard logs; m may be nil to record no metrics.
func New(path string, log *slog.Logger, m *discovery.Metrics) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		path:     path,
		log:      log,
		m:        m,
		debounce: defaultDebounce,
		poll:     defaultPoll,
		notify:   true,
	}
}

// Run sends the file's catalog on out, then a new one each time the file's
// content changes, until ctx ends; it then returns nil. A file that cannot
// be read or parsed is logged and counted and sends nothing, so that the
// last good catalog stays in force; a valid file with no instances is sent.
// Run does not close out.
func (s *Source) Run(ctx context.Context, out chan<- *discovery.Catalog) error {
	// Watch before the first read, so that a change in between is seen.
	w := s.newWatch()
	defer w.close()

	r := &runner{src: s, out: out}
	r.reload(ctx)

	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	quiet := time.NewTimer(s.debounce)
	quiet.Stop()

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-w.events():
			if w.relevant(ev, r.real) {
				quiet.Reset(s.debounce)
			}
		case err := <-w.errors():
			// Most often an overflow: events were lost, so look again.
			s.log.Warn("watching catalog file", "path", s.path, "err", err)
			quiet.Reset(s.debounce)
		case <-quiet.C:
			r.reload(ctx)
		case <-poll.C:
			w.retry()
			if r.stale() {
				r.reload(ctx)
			}
		}
	}
}

// runner is the state of one Run: what was last read and last sent.
type runner struct {
	src *Source
	out chan<- *discovery.Catalog

	sent    *discovery.Catalog // last catalog delivered; nil before the first
	sentSum [sha256.Size]byte  // hash of the content sent was parsed from
	read    bool               // whether the last attempt read the file
	readSum [sha256.Size]byte  // hash of the content last read
	stamp   stamp              // the file's identity when last read
	real    string             // the file's path, symlinks resolved, when last read
	lastErr string             // the problem last logged; "" while the file is good
}

// reload reads the file and, if its content is new and valid, sends it.
func (r *runner) reload(ctx context.Context) {
	s := r.src
	start := time.Now()
	data, st, err := readFile(s.path)
	s.observeLatency(time.Since(start))
	r.real = realPath(s.path)
	if err != nil {
		r.read = false
		r.fail("read", err)
		return
	}
	r.stamp = st

	sum := sha256.Sum256(data)
	if r.read && sum == r.readSum {
		s.log.Debug("catalog file unchanged", "path", s.path)
		return
	}
	r.read, r.readSum = true, sum

	cat, err := Parse(s.path, data)
	if err != nil {
		r.fail("parse", err)
		return
	}
	r.recovered()

	// The file was broken and is now back to what was last sent.
	if r.sent != nil && sum == r.sentSum {
		return
	}
	r.deliver(ctx, cat, sum)
}

// stale reports whether the poll should read the file: it is unreadable
// (so try again), or it is no longer the file, size or mtime last read.
func (r *runner) stale() bool {
	if !r.read {
		return true
	}
	st, err := statFile(r.src.path)
	return err != nil || !st.same(r.stamp)
}

// fail records that the file could not be used, logging each distinct
// problem once so that a file left broken does not flood the log.
func (r *runner) fail(reason string, err error) {
	s := r.src
	s.countError(reason)
	s.setUp(0)
	msg := err.Error()
	if msg == r.lastErr {
		s.log.Debug("catalog file still unusable", "path", s.path, "err", err)
		return
	}
	r.lastErr = msg
	keeping := "keeping the last good catalog"
	if r.sent == nil {
		keeping = "waiting for a valid file"
	}
	s.log.Warn("catalog file unusable, "+keeping, "path", s.path, "err", err)
}

// recovered records that the file is valid, after a problem if there was one.
func (r *runner) recovered() {
	r.src.setUp(1)
	if r.lastErr != "" {
		r.lastErr = ""
		r.src.log.Info("catalog file is valid again", "path", r.src.path)
	}
}

// deliver sends cat, unless ctx ends first. It records the catalog before
// sending, so that whoever receives it sees metrics that already count it;
// if ctx ends instead, Run is returning and the record no longer matters.
func (r *runner) deliver(ctx context.Context, cat *discovery.Catalog, sum [sha256.Size]byte) {
	r.src.observe(r.sent, cat)
	r.sent, r.sentSum = cat, sum
	r.src.log.Info("catalog file loaded", "path", r.src.path,
		"services", len(cat.Services()), "instances", cat.Len())
	select {
	case r.out <- cat:
	case <-ctx.Done():
	}
}

// setUp sets the up gauge, if there are metrics.
func (s *Source) setUp(v float64) {
	if s.m != nil {
		s.m.Up.WithLabelValues(metricsSource).Set(v)
	}
}

// countError counts a failed read or parse, if there are metrics.
func (s *Source) countError(reason string) {
	if s.m != nil {
		s.m.Errors.WithLabelValues(metricsSource, reason).Inc()
	}
}

// observe records a delivered catalog, if there are metrics.
func (s *Source) observe(prev, next *discovery.Catalog) {
	if s.m != nil {
		s.m.Observe(metricsSource, prev, next)
	}
}

// observeLatency records how long a read took, if there are metrics.
func (s *Source) observeLatency(d time.Duration) {
	if s.m != nil {
		s.m.WatchLatency.WithLabelValues(metricsSource).Observe(d.Seconds())
	}
}
