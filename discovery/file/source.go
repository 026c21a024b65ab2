package file

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/filewatch"
)

// metricsSource is the source label of this package's metrics.
const metricsSource = "file"

// Source delivers the catalog held in one file, and again each time the
// file's content changes. It implements discovery.Source.
//
// The file is followed by internal/filewatch: change events from its
// directory (editors, mv and Kubernetes ConfigMap volumes replace the file
// rather than write into it), backed by a slow poll for file systems that
// drop events. Source parses what it reads, keeps the last good catalog,
// logs and counts.
type Source struct {
	path string
	log  *slog.Logger
	m    *discovery.Metrics
	up   atomic.Bool
}

// New returns a source for the catalog file at path. log may be nil to
// discard logs; m may be nil to record no metrics.
func New(path string, log *slog.Logger, m *discovery.Metrics) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{path: path, log: log, m: m}
}

// Up reports whether the last read and parse of the file worked; it is
// false before the first.
func (s *Source) Up() bool {
	return s.up.Load()
}

// Run sends the file's catalog on out, then a new one each time the file's
// content changes, until ctx ends; it then returns nil. A file that cannot
// be read or parsed is logged and counted and sends nothing, so that the
// last good catalog stays in force; a valid file with no instances is sent.
// Run does not close out.
func (s *Source) Run(ctx context.Context, out chan<- *discovery.Catalog) error {
	r := &runner{src: s, out: out}
	opts := filewatch.Options{Log: s.log, OnRead: s.observeRead}
	return filewatch.Watch(ctx, s.path, opts, func(data []byte, err error) {
		r.update(ctx, data, err)
	})
}

// runner is the state of one Run: what was last sent and last logged.
type runner struct {
	src *Source
	out chan<- *discovery.Catalog

	sent    *discovery.Catalog // last catalog delivered; nil before the first
	sentSum [sha256.Size]byte  // hash of the content sent was parsed from
	lastErr string             // the problem last logged; "" while the file is good
}

// update handles new content of the file, or a failure to read it: it
// sends the content's catalog if it is valid and not what was last sent.
func (r *runner) update(ctx context.Context, data []byte, err error) {
	if err != nil {
		// Counted in observeRead, which sees every failed read.
		r.fail(fmt.Errorf("reading catalog: %w", err))
		return
	}
	cat, err := Parse(r.src.path, data)
	if err != nil {
		r.src.countError("parse")
		r.fail(err)
		return
	}
	r.recovered()

	// The file was broken and is now back to what was last sent.
	sum := sha256.Sum256(data)
	if r.sent != nil && sum == r.sentSum {
		return
	}
	r.deliver(ctx, cat, sum)
}

// fail records that the file could not be used, logging each distinct
// problem once so that a file left broken does not flood the log.
func (r *runner) fail(err error) {
	s := r.src
	s.setUp(false)
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
	r.src.setUp(true)
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
