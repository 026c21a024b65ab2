// Package filewatchtest holds what tests of watched files share: writing a
// file the ways real writers do, and waiting for what a watch delivers.
package filewatchtest

import (
	"context"
	"os"
	"testing"
	"time"
)

const (
	// Arrives bounds the wait for what must happen: generous, because it
	// only costs time when the test is failing anyway.
	Arrives = 5 * time.Second
	// Quiet is how long what must not happen is waited for.
	Quiet = 500 * time.Millisecond
)

// WriteInPlace truncates the file and writes into it, as a plain
// redirection or a naive program does.
func WriteInPlace(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteRename writes a new file beside path and renames it over path, as
// editors and careful tools do.
func WriteRename(t testing.TB, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	WriteInPlace(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Next returns the next value on ch if one arrives within d.
func Next[T any](ch <-chan T, d time.Duration) (T, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v, true
	case <-timer.C:
		var zero T
		return zero, false
	}
}

// Receive returns the next value on ch, failing the test if none arrives
// within Arrives; what names the value in the failure.
func Receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	v, ok := Next(ch, Arrives)
	if !ok {
		t.Fatalf("no %s within %v", what, Arrives)
	}
	return v
}

// Offer sends v on ch unless ch is full, so that a test that has stopped
// listening does not block what it observes.
func Offer[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// Start runs run on its own goroutine until the test ends; it then cancels
// run's context, waits for run to return and fails the test unless it
// returned nil. what names run in the failure.
func Start(t testing.TB, what string, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s returned %v, want nil", what, err)
		}
	})
}
