package filewatch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway/spillway/internal/filewatch/filewatchtest"
)

// fastPoll is the poll of tests that rely on it.
const fastPoll = 50 * time.Millisecond

// Contents of different lengths, so that the poll sees each as new even
// where mtimes are coarse.
const contentA, contentB, contentC = "a\n", "bb\n", "ccc\n"

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// call is one call of Watch's fn.
type call struct {
	data string
	err  error
}

// watching is one Watch running in the background for a test.
type watching struct {
	calls chan call
	reads chan error // every read, from OnRead
}

// watch runs Watch on path with opts; it is stopped when the test ends,
// and must then return nil.
func watch(t *testing.T, path string, opts Options) *watching {
	t.Helper()
	w := &watching{calls: make(chan call), reads: make(chan error, 1000)}
	opts.OnRead = func(_ time.Duration, err error) { filewatchtest.Offer(w.reads, err) }
	filewatchtest.Start(t, "Watch", func(ctx context.Context) error {
		return Watch(ctx, path, opts, func(data []byte, err error) {
			select {
			case w.calls <- call{data: string(data), err: err}:
			case <-ctx.Done():
			}
		})
	})
	return w
}

// next waits for the next call of fn.
func (w *watching) next(t *testing.T) call {
	t.Helper()
	return filewatchtest.Receive(t, w.calls, "call of fn")
}

// expect waits for fn to be called with content.
func (w *watching) expect(t *testing.T, content string) {
	t.Helper()
	if c := w.next(t); c.err != nil || c.data != content {
		t.Fatalf("fn(%q, %v), want fn(%q, nil)", c.data, c.err, content)
	}
}

// expectErr waits for fn to be called with an error that is target.
func (w *watching) expectErr(t *testing.T, target error) {
	t.Helper()
	if c := w.next(t); !errors.Is(c.err, target) || c.data != "" {
		t.Fatalf("fn(%q, %v), want fn(nil, %v)", c.data, c.err, target)
	}
}

// none checks that fn is not called for a while.
func (w *watching) none(t *testing.T) {
	t.Helper()
	if c, ok := filewatchtest.Next(w.calls, filewatchtest.Quiet); ok {
		t.Fatalf("unexpected fn(%q, %v)", c.data, c.err)
	}
}

// drainReads forgets the reads so far.
func (w *watching) drainReads() {
	for len(w.reads) > 0 {
		<-w.reads
	}
}

// read waits for the next read of the file and returns its error.
func (w *watching) read(t *testing.T) error {
	t.Helper()
	return filewatchtest.Receive(t, w.reads, "read of the file")
}

// noRead checks that the file is not read for a while.
func (w *watching) noRead(t *testing.T) {
	t.Helper()
	if err, ok := filewatchtest.Next(w.reads, filewatchtest.Quiet); ok {
		t.Fatalf("file read (err %v), want no read", err)
	}
}

// configMap lays out dir as a Kubernetes ConfigMap volume does: name is a
// link through "..data", which each version swaps to a new directory. It
// returns the file's path and a function that publishes a version.
func configMap(t *testing.T, dir, name string) (string, func(t *testing.T, content string)) {
	t.Helper()
	n := 0
	publish := func(t *testing.T, content string) {
		t.Helper()
		n++
		version := filepath.Join(dir, "..v"+strings.Repeat("I", n))
		if err := os.Mkdir(version, 0o755); err != nil {
			t.Fatal(err)
		}
		filewatchtest.WriteInPlace(t, filepath.Join(version, name), content)
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(version), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	if err := os.Symlink(filepath.Join("..data", name), path); err != nil {
		t.Fatal(err)
	}
	return path, publish
}

func TestWatchFirstCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		maxSize int64
		content *string
		want    string
		wantErr string
	}{
		{name: "content", content: ptr(contentA), want: contentA},
		{name: "empty file", content: ptr("")},
		{name: "missing file", wantErr: "no such file or directory"},
		{name: "at the limit", content: ptr("abcd"), maxSize: 4, want: "abcd"},
		{name: "over the limit", content: ptr("abcde"), maxSize: 4,
			wantErr: "larger than 4 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "file")
			if tt.content != nil {
				filewatchtest.WriteInPlace(t, path, *tt.content)
			}
			c := watch(t, path, Options{MaxSize: tt.maxSize}).next(t)
			if tt.wantErr == "" {
				if c.err != nil || c.data != tt.want {
					t.Fatalf("fn(%q, %v), want fn(%q, nil)", c.data, c.err, tt.want)
				}
				return
			}
			if c.err == nil || !strings.Contains(c.err.Error(), tt.wantErr) ||
				!strings.Contains(c.err.Error(), path) {
				t.Fatalf("fn error %v, want one naming %s and containing %q",
					c.err, path, tt.wantErr)
			}
		})
	}
}

func TestWatchFollowsChanges(t *testing.T) {
	t.Parallel()
	writes := []struct {
		name  string
		write func(t testing.TB, path, content string)
	}{
		{"in place", filewatchtest.WriteInPlace},
		{"rename", filewatchtest.WriteRename},
	}
	modes := []struct {
		name string
		opts Options
	}{
		// With the poll out of the way, only change events can deliver.
		{"events", Options{Poll: time.Hour}},
		{"poll only", Options{PollOnly: true, Poll: fastPoll}},
	}
	for _, m := range modes {
		for _, w := range writes {
			t.Run(m.name+"/"+w.name, func(t *testing.T) {
				t.Parallel()
				path := filepath.Join(t.TempDir(), "file")
				filewatchtest.WriteInPlace(t, path, contentA)
				fw := watch(t, path, m.opts)
				fw.expect(t, contentA)
				w.write(t, path, contentB)
				fw.expect(t, contentB)
				w.write(t, path, contentC)
				fw.expect(t, contentC)
			})
		}
		t.Run(m.name+"/symlink swap", func(t *testing.T) {
			t.Parallel()
			path, publish := configMap(t, t.TempDir(), "file")
			publish(t, contentA)
			fw := watch(t, path, m.opts)
			fw.expect(t, contentA)
			publish(t, contentB)
			fw.expect(t, contentB)
			publish(t, contentC)
			fw.expect(t, contentC)
		})
	}
}

func TestWatchSkipsWhatIsNoChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		read   bool // whether the change must make the watch read the file
	}{
		{
			name: "touch",
			change: func(t *testing.T, path string) {
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			},
			read: true,
		},
		{
			name:   "same content renamed over it",
			change: func(t *testing.T, path string) { filewatchtest.WriteRename(t, path, contentA) },
			read:   true,
		},
		{
			name: "another file in the directory",
			change: func(t *testing.T, path string) {
				filewatchtest.WriteRename(t, filepath.Join(filepath.Dir(path), "other"), contentB)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "file")
			filewatchtest.WriteInPlace(t, path, contentA)
			w := watch(t, path, Options{Poll: time.Hour})
			w.expect(t, contentA)
			w.drainReads()

			tt.change(t, path)
			if !tt.read {
				w.noRead(t)
				return
			}
			if err := w.read(t); err != nil {
				t.Fatalf("read failed: %v", err)
			}
			w.none(t)
		})
	}
}

func TestWatchReportsEachErrorOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "file")
	w := watch(t, path, Options{Poll: fastPoll})
	w.expectErr(t, fs.ErrNotExist)

	// The poll keeps trying, silently while the error stays the same.
	for range 3 {
		if err := w.read(t); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read error %v, want %v", err, fs.ErrNotExist)
		}
	}
	w.none(t)

	filewatchtest.WriteRename(t, path, contentA)
	w.expect(t, contentA)

	// After a good read the same error is news again, and so is the same
	// content after an error.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.expectErr(t, fs.ErrNotExist)
	filewatchtest.WriteRename(t, path, contentA)
	w.expect(t, contentA)
}

func TestWatchRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"debounce", Options{Debounce: -time.Second}, "debounce -1s is negative"},
		{"poll", Options{Poll: -time.Second}, "poll interval -1s is negative"},
		{"max size", Options{MaxSize: -1}, "maximum size -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			called := false
			err := Watch(context.Background(), "some/file", tt.opts, func([]byte, error) {
				called = true
			})
			if want := "watching some/file: " + tt.want; err == nil || err.Error() != want {
				t.Errorf("Watch error %v, want %q", err, want)
			}
			if called {
				t.Error("fn called despite bad options")
			}
		})
	}
}

func ptr(s string) *string { return &s }
