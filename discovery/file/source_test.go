package file

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/internal/filewatch/filewatchtest"
)

const (
	catalogA = "services:\n  inference:\n    - {id: a, address: 127.0.0.1, port: 1}\n"
	catalogB = "services:\n  inference:\n    - {id: b, address: 127.0.0.1, port: 2}\n"
	broken   = "services:\n  inference:\n    - {id: x, address: 127.0.0.1, port: nope}\n"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// records is a slog.Handler that hands every record to the test, so that
// a test can wait for the source to have acted instead of sleeping.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }

func (r records) Handle(_ context.Context, rec slog.Record) error {
	filewatchtest.Offer(r, rec)
	return nil
}

// waitLog waits for a record whose message starts with prefix.
func (r records) waitLog(t *testing.T, level slog.Level, prefix string) slog.Record {
	t.Helper()
	timeout := time.After(filewatchtest.Arrives)
	for {
		select {
		case rec := <-r:
			if rec.Level == level && strings.HasPrefix(rec.Message, prefix) {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %v log starting %q within %v", level, prefix, filewatchtest.Arrives)
		}
	}
}

// run is one Source running in the background for a test.
type run struct {
	path string
	src  *Source
	out  chan *discovery.Catalog
	logs records
	m    *discovery.Metrics
}

// start runs a source on a catalog file holding content (none if content
// is nil). The source is stopped when the test ends, and must then return
// nil.
func start(t *testing.T, content *string) *run {
	t.Helper()
	r := &run{
		path: filepath.Join(t.TempDir(), "catalog.yaml"),
		out:  make(chan *discovery.Catalog),
		logs: make(records, 1000),
		m:    discovery.NewMetrics(prometheus.NewRegistry()),
	}
	if content != nil {
		filewatchtest.WriteInPlace(t, r.path, *content)
	}
	r.src = New(r.path, slog.New(r.logs), r.m)
	filewatchtest.Start(t, "Run", func(ctx context.Context) error { return r.src.Run(ctx, r.out) })
	return r
}

// next waits for the next catalog.
func (r *run) next(t *testing.T) *discovery.Catalog {
	t.Helper()
	return filewatchtest.Receive(t, r.out, "catalog delivered")
}

// expect waits for the next catalog and checks that it holds content.
func (r *run) expect(t *testing.T, content string) {
	t.Helper()
	want, err := Parse("want", []byte(content))
	if err != nil {
		t.Fatalf("bad test catalog: %v", err)
	}
	if diff := cmp.Diff(byService(want), byService(r.next(t))); diff != "" {
		t.Fatalf("delivered catalog (-want +got):\n%s", diff)
	}
}

// none checks that no catalog arrives for a while.
func (r *run) none(t *testing.T) {
	t.Helper()
	if c, ok := filewatchtest.Next(r.out, filewatchtest.Quiet); ok {
		t.Fatalf("unexpected catalog delivered: %v", byService(c))
	}
}

// metric returns the value of a gauge or counter of the source's metrics.
func metric(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	switch {
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Histogram != nil:
		return float64(pb.Histogram.GetSampleCount())
	}
	return pb.Counter.GetValue()
}

// checkUp checks that Up and the up gauge both say up.
func (r *run) checkUp(t *testing.T, up bool) {
	t.Helper()
	want := 0.0
	if up {
		want = 1
	}
	if got := metric(t, r.m.Up.WithLabelValues("file")); got != want || r.src.Up() != up {
		t.Errorf("up gauge = %v, Up() = %v; want %v", got, r.src.Up(), up)
	}
}

// checkErrors checks that errors for reason were counted, at most one per
// read: the errors are read first, so more reads in between cannot make
// the check fail.
func (r *run) checkErrors(t *testing.T, reason string) {
	t.Helper()
	errs := metric(t, r.m.Errors.WithLabelValues("file", reason))
	reads := metric(t, r.m.WatchLatency.WithLabelValues("file").(prometheus.Metric))
	if errs < 1 || errs > reads {
		t.Errorf("%s errors = %v after %v reads, want 1 to %v", reason, errs, reads, reads)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	filewatchtest.WriteInPlace(t, path, content)
	return path
}

func ptr(s string) *string { return &s }

func TestRunDeliversFirstCatalog(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA))
	if r.src.Up() {
		t.Error("Up() = true before the first read")
	}
	r.expect(t, catalogA)

	r.checkUp(t, true)
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 1 {
		t.Errorf("updates = %v, want 1", got)
	}
	if got := metric(t, r.m.Instances.WithLabelValues("file", "inference")); got != 1 {
		t.Errorf("instances = %v, want 1", got)
	}
}

func TestRunKeepsLastGoodCatalog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		spoil  func(t *testing.T, path string)
		reason string
		err    string
	}{
		{
			name:   "broken content",
			spoil:  func(t *testing.T, path string) { filewatchtest.WriteRename(t, path, broken) },
			reason: "parse",
			err:    "services.inference[0].port",
		},
		{
			name: "removed file",
			spoil: func(t *testing.T, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			reason: "read",
			err:    "reading catalog: open ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, ptr(catalogA))
			r.expect(t, catalogA)

			tt.spoil(t, r.path)
			rec := r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable, keeping")
			r.none(t)
			if !strings.Contains(attr(rec, "err"), tt.err) {
				t.Errorf("warning err = %q, want it to contain %q", attr(rec, "err"), tt.err)
			}
			if got := attr(rec, "path"); got != r.path {
				t.Errorf("warning path = %q, want %q", got, r.path)
			}
			r.checkUp(t, false)
			r.checkErrors(t, tt.reason)

			filewatchtest.WriteRename(t, r.path, catalogB)
			r.expect(t, catalogB)
			r.checkUp(t, true)
		})
	}
}

func TestRunIgnoresRepairToLastGoodContent(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA))
	r.expect(t, catalogA)

	filewatchtest.WriteRename(t, r.path, broken)
	r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable")
	filewatchtest.WriteRename(t, r.path, catalogA)
	r.logs.waitLog(t, slog.LevelInfo, "catalog file is valid again")
	r.none(t)
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 1 {
		t.Errorf("updates = %v, want 1", got)
	}
}

func TestRunLogsEachProblemOnce(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(broken))
	r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable, waiting")

	// The same problem in new content: counted, not logged again.
	filewatchtest.WriteRename(t, r.path, broken+"# edited\n")
	r.logs.waitLog(t, slog.LevelDebug, "catalog file still unusable")
	filewatchtest.WriteRename(t, r.path, catalogA)
	r.expect(t, catalogA)
	if got := metric(t, r.m.Errors.WithLabelValues("file", "parse")); got != 2 {
		t.Errorf("parse errors = %v, want 2", got)
	}
	for len(r.logs) > 0 {
		if rec := <-r.logs; rec.Level == slog.LevelWarn {
			t.Errorf("logged again: %s %s", rec.Message, attr(rec, "err"))
		}
	}
}

func TestRunWaitsForFirstGoodFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content *string
		reason  string
	}{
		{"missing", nil, "read"},
		{"broken", ptr(broken), "parse"},
		{"empty", ptr(""), "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, tt.content)
			r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable, waiting for a valid file")
			r.none(t)
			r.checkUp(t, false)
			r.checkErrors(t, tt.reason)
			filewatchtest.WriteRename(t, r.path, catalogA)
			r.expect(t, catalogA)
			r.checkUp(t, true)
		})
	}
}

func TestRunDeliversEmptyCatalog(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA))
	r.expect(t, catalogA)

	filewatchtest.WriteRename(t, r.path, "services: {}\n")
	if c := r.next(t); c == nil || c.Len() != 0 {
		t.Fatalf("delivered %v, want an empty catalog", c)
	}
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 2 {
		t.Errorf("updates = %v, want 2", got)
	}
}

func TestRunWithoutMetricsOrLogger(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, broken)
	out := make(chan *discovery.Catalog)
	src := New(path, nil, nil)
	filewatchtest.Start(t, "Run", func(ctx context.Context) error { return src.Run(ctx, out) })

	filewatchtest.WriteRename(t, path, catalogA)
	if c := filewatchtest.Receive(t, out, "catalog delivered"); c.Len() != 1 {
		t.Errorf("delivered %d instances, want 1", c.Len())
	}
}

func TestRunReturnsWhileBlockedOnSend(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, catalogA)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- New(path, nil, nil).Run(ctx, make(chan *discovery.Catalog)) }()
	cancel()
	if err := filewatchtest.Receive(t, done, "return of Run after its context ended"); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

// attr returns the value of the record's attribute key as a string.
func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}
