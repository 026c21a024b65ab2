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
)

const (
	// delivered bounds the wait for a catalog that must arrive: generous,
	// because it only costs time when the test is failing anyway.
	delivered = 5 * time.Second
	// quietWindow is how long a catalog that must not arrive is waited for.
	quietWindow = 500 * time.Millisecond
)

const (
	catalogA = "services:\n  inference:\n    - {id: a, address: 127.0.0.1, port: 1}\n"
	catalogB = "services:\n  inference:\n    - {id: b, address: 127.0.0.1, port: 2}\n"
	catalogC = "services:\n  inference:\n    - {id: c, address: 127.0.0.1, port: 3}\n"
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
	select {
	case r <- rec:
	default: // a test that stops listening must not block the source
	}
	return nil
}

// waitLog waits for a record whose message starts with prefix.
func (r records) waitLog(t *testing.T, level slog.Level, prefix string) slog.Record {
	t.Helper()
	timeout := time.After(delivered)
	for {
		select {
		case rec := <-r:
			if rec.Level == level && strings.HasPrefix(rec.Message, prefix) {
				return rec
			}
		case <-timeout:
			t.Fatalf("no %v log starting %q within %v", level, prefix, delivered)
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
// is nil); tune adjusts the source before it starts. The source is stopped
// when the test ends, and must then return nil.
func start(t *testing.T, content *string, tune func(*Source)) *run {
	t.Helper()
	r := &run{
		path: filepath.Join(t.TempDir(), "catalog.yaml"),
		out:  make(chan *discovery.Catalog),
		logs: make(records, 1000),
		m:    discovery.NewMetrics(prometheus.NewRegistry()),
	}
	if content != nil {
		writeInPlace(t, r.path, *content)
	}
	r.src = New(r.path, slog.New(r.logs), r.m)
	if tune != nil {
		tune(r.src)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.src.Run(ctx, r.out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	})
	return r
}

// next waits for the next catalog.
func (r *run) next(t *testing.T) *discovery.Catalog {
	t.Helper()
	select {
	case c := <-r.out:
		return c
	case <-time.After(delivered):
		t.Fatalf("no catalog delivered within %v", delivered)
		return nil
	}
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
	select {
	case c := <-r.out:
		t.Fatalf("unexpected catalog delivered: %v", byService(c))
	case <-time.After(quietWindow):
	}
}

// metric returns the value of a gauge or counter of the source's metrics.
func metric(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	if pb.Gauge != nil {
		return pb.Gauge.GetValue()
	}
	return pb.Counter.GetValue()
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	writeInPlace(t, path, content)
	return path
}

// writeInPlace truncates the file and writes into it, as a plain
// redirection or a naive program does.
func writeInPlace(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeRename writes a new file beside path and renames it over path, as
// editors and careful tools do.
func writeRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	writeInPlace(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func ptr(s string) *string { return &s }

func TestRunDeliversFirstCatalog(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), nil)
	r.expect(t, catalogA)

	if got := metric(t, r.m.Up.WithLabelValues("file")); got != 1 {
		t.Errorf("up = %v, want 1", got)
	}
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 1 {
		t.Errorf("updates = %v, want 1", got)
	}
	if got := metric(t, r.m.Instances.WithLabelValues("file", "inference")); got != 1 {
		t.Errorf("instances = %v, want 1", got)
	}
}

func TestRunDeliversChanges(t *testing.T) {
	t.Parallel()
	writes := []struct {
		name  string
		write func(t *testing.T, path, content string)
	}{
		{"in place", writeInPlace},
		{"rename", writeRename},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			r := start(t, ptr(catalogA), nil)
			r.expect(t, catalogA)
			w.write(t, r.path, catalogB)
			r.expect(t, catalogB)
			w.write(t, r.path, catalogC)
			r.expect(t, catalogC)
		})
	}
}

func TestRunKeepsLastGoodCatalog(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), nil)
	r.expect(t, catalogA)

	writeRename(t, r.path, broken)
	rec := r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable")
	r.none(t)
	if !strings.Contains(attr(rec, "err"), "services.inference[0].port") {
		t.Errorf("warning err = %q, want the parse error", attr(rec, "err"))
	}
	if got := attr(rec, "path"); got != r.path {
		t.Errorf("warning path = %q, want %q", got, r.path)
	}
	if got := metric(t, r.m.Up.WithLabelValues("file")); got != 0 {
		t.Errorf("up = %v, want 0", got)
	}
	if got := metric(t, r.m.Errors.WithLabelValues("file", "parse")); got != 1 {
		t.Errorf("parse errors = %v, want 1", got)
	}

	writeRename(t, r.path, catalogB)
	r.expect(t, catalogB)
	if got := metric(t, r.m.Up.WithLabelValues("file")); got != 1 {
		t.Errorf("up = %v, want 1", got)
	}
}

func TestRunIgnoresRepairToLastGoodContent(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), nil)
	r.expect(t, catalogA)

	writeRename(t, r.path, broken)
	r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable")
	writeRename(t, r.path, catalogA)
	r.logs.waitLog(t, slog.LevelInfo, "catalog file is valid again")
	r.none(t)
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 1 {
		t.Errorf("updates = %v, want 1", got)
	}
}

func TestRunLogsEachProblemOnce(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(broken), nil)
	r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable, waiting")

	// The same problem in new content: counted, not logged again.
	writeRename(t, r.path, broken+"# edited\n")
	r.logs.waitLog(t, slog.LevelDebug, "catalog file still unusable")
	writeRename(t, r.path, catalogA)
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
			r := start(t, tt.content, nil)
			r.logs.waitLog(t, slog.LevelWarn, "catalog file unusable, waiting for a valid file")
			r.none(t)
			if got := metric(t, r.m.Errors.WithLabelValues("file", tt.reason)); got < 1 {
				t.Errorf("%s errors = %v, want at least 1", tt.reason, got)
			}
			writeRename(t, r.path, catalogA)
			r.expect(t, catalogA)
		})
	}
}

func TestRunDeliversEmptyCatalog(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), nil)
	r.expect(t, catalogA)

	writeRename(t, r.path, "services: {}\n")
	if c := r.next(t); c == nil || c.Len() != 0 {
		t.Fatalf("delivered %v, want an empty catalog", c)
	}
	if got := metric(t, r.m.Updates.WithLabelValues("file")); got != 2 {
		t.Errorf("updates = %v, want 2", got)
	}
}

func TestRunIgnoresUnchangedContent(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), nil)
	r.expect(t, catalogA)

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(r.path, later, later); err != nil {
		t.Fatal(err)
	}
	r.logs.waitLog(t, slog.LevelDebug, "catalog file unchanged")
	r.none(t)

	writeRename(t, r.path, catalogA)
	r.logs.waitLog(t, slog.LevelDebug, "catalog file unchanged")
	r.none(t)
}

func TestRunFollowsSymlinkSwap(t *testing.T) {
	t.Parallel()

	// The layout of a Kubernetes ConfigMap volume: the file is a link
	// through "..data", which is swapped to a new directory on update.
	dir := t.TempDir()
	version := func(name, content string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeInPlace(t, filepath.Join(dir, name, "catalog.yaml"), content)
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", catalogA)
	path := filepath.Join(dir, "catalog.yaml")
	if err := os.Symlink("..data/catalog.yaml", path); err != nil {
		t.Fatal(err)
	}

	// With the poll out of the way, only change events can deliver.
	r := start(t, nil, func(s *Source) { s.path, s.poll = path, time.Hour })
	r.expect(t, catalogA)
	version("..v2", catalogB)
	r.expect(t, catalogB)
}

func TestRunPollsWithoutEvents(t *testing.T) {
	t.Parallel()
	r := start(t, ptr(catalogA), func(s *Source) {
		s.notify, s.poll = false, 50*time.Millisecond
	})
	r.expect(t, catalogA)
	writeInPlace(t, r.path, catalogB)
	r.expect(t, catalogB)
	writeRename(t, r.path, catalogC)
	r.expect(t, catalogC)
}

func TestRunWatchesDirectoryCreatedLater(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	path := filepath.Join(dir, "catalog.yaml")
	r := start(t, nil, func(s *Source) { s.path, s.poll = path, 50*time.Millisecond })
	r.logs.waitLog(t, slog.LevelWarn, "cannot watch catalog directory yet")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.logs.waitLog(t, slog.LevelInfo, "watching catalog directory")
	writeRename(t, path, catalogA)
	r.expect(t, catalogA)
}

func TestRunWithoutMetricsOrLogger(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, broken)
	out := make(chan *discovery.Catalog)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- New(path, nil, nil).Run(ctx, out) }()

	writeRename(t, path, catalogA)
	select {
	case c := <-out:
		if c.Len() != 1 {
			t.Errorf("delivered %d instances, want 1", c.Len())
		}
	case <-time.After(delivered):
		t.Fatal("no catalog delivered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestRunReturnsWhileBlockedOnSend(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, catalogA)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- New(path, nil, nil).Run(ctx, make(chan *discovery.Catalog)) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(delivered):
		t.Fatal("Run did not return after its context ended")
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
