package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait for a state the test knows will come; it is
// not a speed requirement, only a guard against hanging forever.
const patience = 10 * time.Second

// instance is a Server serving on a real loopback listener.
type instance struct {
	*Server
	url    string
	addr   string
	client *http.Client
	served chan error
}

// start serves a new Server on 127.0.0.1 and drains it when the test ends.
func start(t *testing.T, opts Options) *instance {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Name == "" {
		opts.Name = "test-1"
	}
	in := &instance{
		Server: New(opts),
		url:    "http://" + lis.Addr().String(),
		addr:   lis.Addr().String(),
		client: &http.Client{Transport: &http.Transport{}},
		served: make(chan error, 1),
	}
	go func() { in.served <- in.Serve(lis) }()
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop drains the server, cutting what is left after a short while, and
// checks that Serve returned cleanly.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = in.Shutdown(ctx)
	if err := recv(t, in.served, "Serve to return"); err != nil {
		t.Errorf("Serve: %v", err)
	}
	in.client.CloseIdleConnections()
}

// get fetches path and returns the status and body.
func (in *instance) get(t *testing.T, ctx context.Context, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, body
}

// outcome is the end of one request made in the background.
type outcome struct {
	tag    string
	code   int
	result Result
	err    error
}

// predictAsync sends GET /predict from a goroutine; its outcome arrives
// on out, tagged.
func (in *instance) predictAsync(ctx context.Context, tag string, out chan<- outcome) {
	go func() {
		o := outcome{tag: tag}
		defer func() { out <- o }()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.url+"/predict", nil)
		if err != nil {
			o.err = err
			return
		}
		resp, err := in.client.Do(req)
		if err != nil {
			o.err = err
			return
		}
		defer resp.Body.Close()
		o.code = resp.StatusCode
		if o.code == http.StatusOK {
			o.err = json.NewDecoder(resp.Body).Decode(&o.result)
		}
	}()
}

// waitCounts waits until waiting and running requests are as wanted.
func (in *instance) waitCounts(t *testing.T, wantWaiting, wantRunning int) {
	t.Helper()
	waitFor(t, func() bool {
		w, r := in.slots.counts()
		return w == wantWaiting && r == wantRunning
	}, "waiting and running to be", wantWaiting, wantRunning)
}

// waitFor polls cond until it holds or patience runs out.
func waitFor(t *testing.T, cond func() bool, what ...any) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %v", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recv returns the next value from ch, or fails after patience.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("gave up waiting for %s", what)
		var zero T
		return zero
	}
}

// receive returns the next outcome, or fails after patience.
func receive(t *testing.T, out <-chan outcome) outcome {
	t.Helper()
	return recv(t, out, "a request to end")
}
