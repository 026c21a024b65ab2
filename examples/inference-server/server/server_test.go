package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReadinessAfterWarmup checks that the instance is alive but neither
// ready nor serving until its warm-up has passed, then both.
func TestReadinessAfterWarmup(t *testing.T) {
	const warmup = 2 * time.Second
	began := time.Now()
	in := start(t, Options{Warmup: warmup, Latency: MustParseLatency("fixed:0s")})
	ctx := context.Background()

	readyCode, readyBody := in.get(t, ctx, "/health/ready")
	predictCode, _ := in.get(t, ctx, "/predict")
	liveCode, _ := in.get(t, ctx, "/health")
	if liveCode != http.StatusOK {
		t.Errorf("/health during warm-up = %d, want 200", liveCode)
	}
	// On a machine stalled for the whole warm-up, the first answers may
	// rightly say ready; only answers given during the warm-up are judged.
	if time.Since(began) < warmup {
		if readyCode != http.StatusServiceUnavailable || !strings.Contains(string(readyBody), "loading") {
			t.Errorf("/health/ready during warm-up = %d %s, want 503 saying the model is loading",
				readyCode, readyBody)
		}
		if predictCode != http.StatusServiceUnavailable {
			t.Errorf("/predict during warm-up = %d, want 503", predictCode)
		}
	} else {
		t.Log("warm-up passed before the first answers; not judging them")
	}

	waitFor(t, func() bool {
		code, _ := in.get(t, ctx, "/health/ready")
		return code == http.StatusOK
	}, "readiness after warm-up")
	if code, body := in.get(t, ctx, "/predict"); code != http.StatusOK {
		t.Errorf("/predict after warm-up = %d %s, want 200", code, body)
	}
}

// TestReadinessFollowsTheQueue fills a one-slot instance and checks that
// readiness fails once more than MaxQueue wait, that arrivals beyond the
// cap are refused at once, and that readiness returns when the queue
// empties.
func TestReadinessFollowsTheQueue(t *testing.T) {
	in := start(t, Options{
		Concurrency: 1, MaxQueue: 1, QueueCap: 2,
		Latency: MustParseLatency("fixed:1h"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan outcome, 3)
	checkReady := func(want int) {
		t.Helper()
		if code, body := in.get(t, context.Background(), "/health/ready"); code != want {
			t.Errorf("/health/ready = %d %s, want %d", code, body, want)
		}
	}

	in.predictAsync(ctx, "running", out)
	in.waitCounts(t, 0, 1)
	in.predictAsync(ctx, "waiting 1", out)
	in.waitCounts(t, 1, 1)
	checkReady(http.StatusOK) // one waiting is not more than MaxQueue
	in.predictAsync(ctx, "waiting 2", out)
	in.waitCounts(t, 2, 1)
	checkReady(http.StatusServiceUnavailable)

	req, _ := http.NewRequest(http.MethodPost, in.url+"/predict", strings.NewReader("{}"))
	resp, err := in.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("/predict beyond the cap = %d (Retry-After %q), want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	cancel()
	for range 3 {
		receive(t, out)
	}
	in.waitCounts(t, 0, 0)
	checkReady(http.StatusOK)
}

// TestConcurrencyQueues checks, with one slot, that a second request waits
// for the first and says so in queue_ms. It asserts order, not speed.
func TestConcurrencyQueues(t *testing.T) {
	in := start(t, Options{Concurrency: 1, Latency: MustParseLatency("fixed:1s")})
	out := make(chan outcome, 2)

	in.predictAsync(context.Background(), "first", out)
	in.waitCounts(t, 0, 1)
	in.predictAsync(context.Background(), "second", out)
	in.waitCounts(t, 1, 1) // the second is queued behind the first

	first, second := receive(t, out), receive(t, out)
	for _, o := range []outcome{first, second} {
		if o.err != nil || o.code != http.StatusOK {
			t.Fatalf("%s: %d %v, want 200", o.tag, o.code, o.err)
		}
	}
	if first.tag != "first" {
		t.Fatalf("%q finished first, want the request that held the slot", first.tag)
	}
	if second.result.QueueMS <= 0 {
		t.Errorf("second queue_ms = %v, want > 0", second.result.QueueMS)
	}
	if r := first.result; r.Instance != "test-1" || r.GPU != GPUA100 || r.ServiceMS <= 0 {
		t.Errorf("first result = %+v, want instance test-1, gpu a100, service_ms > 0", r)
	}
}

// TestStream checks that /stream sends the tokens asked for, in order,
// then the end marker, as Server-Sent Events.
func TestStream(t *testing.T) {
	in := start(t, Options{})
	resp, err := in.client.Get(in.url + "/stream?tokens=5&interval=10ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q; want 200 text/event-stream",
			resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("X-Queue-Ms") == "" {
		t.Error("no X-Queue-Ms header")
	}
	got := readEvents(t, resp)
	want := []string{"token 1", "token 2", "token 3", "token 4", "token 5", "[DONE]"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events = %q, want %q", got, want)
	}
}

// readEvents returns the data of every event in an SSE body.
func readEvents(t *testing.T, resp *http.Response) []string {
	t.Helper()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, data)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return events
}

func TestStreamRejectsBadParameters(t *testing.T) {
	in := start(t, Options{})
	for _, query := range []string{
		"tokens=0", "tokens=many", "tokens=10001", "interval=fast", "interval=-1s", "interval=2m",
	} {
		t.Run(query, func(t *testing.T) {
			code, body := in.get(t, context.Background(), "/stream?"+query)
			_, value, _ := strings.Cut(query, "=")
			if code != http.StatusBadRequest || !strings.Contains(string(body), value) {
				t.Errorf("= %d %s, want 400 naming the value", code, body)
			}
		})
	}
}

// TestShutdownDrains starts a request and a stream, shuts down, and checks
// that readiness fails at once, newcomers are refused, both finish whole,
// and Shutdown returns only after them.
func TestShutdownDrains(t *testing.T) {
	in := start(t, Options{Concurrency: 2, Latency: MustParseLatency("fixed:1500ms")})
	out := make(chan outcome, 1)
	in.predictAsync(context.Background(), "in flight", out)
	stream, err := in.client.Get(in.url + "/stream?tokens=10&interval=150ms")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	in.waitCounts(t, 0, 2)

	shutdown := make(chan error, 1)
	go func() { shutdown <- in.Shutdown(context.Background()) }()
	waitFor(t, func() bool { ready, _ := in.Ready(); return !ready }, "readiness to fail")
	code, body := in.get(t, context.Background(), "/health/ready")
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "draining") {
		t.Errorf("/health/ready while draining = %d %s, want 503 draining", code, body)
	}
	if code, _ := in.get(t, context.Background(), "/predict"); code != http.StatusServiceUnavailable {
		t.Errorf("/predict while draining = %d, want 503", code)
	}

	if o := receive(t, out); o.code != http.StatusOK || o.err != nil {
		t.Errorf("in-flight request = %d %v, want 200", o.code, o.err)
	}
	if events := readEvents(t, stream); len(events) != 11 || events[10] != "[DONE]" {
		t.Errorf("stream events = %q, want 10 tokens and [DONE]", events)
	}
	if err := recv(t, shutdown, "Shutdown to return"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown returned after both were counted as served.
	if n := counterValue(t, in.Server, "inference_requests_total", "200"); n != 2 {
		t.Errorf("requests served with 200 = %v, want 2", n)
	}
}

// TestShutdownTimesOut checks that a drain that runs out of time says so.
func TestShutdownTimesOut(t *testing.T) {
	in := start(t, Options{Latency: MustParseLatency("fixed:1h")})
	out := make(chan outcome, 1)
	in.predictAsync(context.Background(), "stuck", out)
	in.waitCounts(t, 0, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := in.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "draining") {
		t.Fatalf("Shutdown = %v, want a draining error", err)
	}
	if o := receive(t, out); o.err == nil {
		t.Errorf("stuck request = %d, want it cut", o.code)
	}
}

// TestPredictResponse checks the JSON of /predict over both methods.
func TestPredictResponse(t *testing.T) {
	in := start(t, Options{Name: "gpu-t4-7", GPU: GPUT4, Latency: MustParseLatency("fixed:1ms")})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			req, _ := http.NewRequest(method, in.url+"/predict", strings.NewReader(`{"prompt":"hi"}`))
			resp, err := in.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var fields map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&fields); err != nil {
				t.Fatal(err)
			}
			ok := resp.StatusCode == http.StatusOK
			if !ok || fields["instance"] != "gpu-t4-7" || fields["gpu"] != "t4" {
				t.Errorf("= %d %v, want 200 from gpu-t4-7 on t4", resp.StatusCode, fields)
			}
			for _, key := range []string{"queue_ms", "service_ms"} {
				if _, ok := fields[key].(float64); !ok {
					t.Errorf("%s = %v, want a number", key, fields[key])
				}
			}
		})
	}
	if code, _ := in.get(t, context.Background(), "/nowhere"); code != http.StatusNotFound {
		t.Errorf("/nowhere = %d, want 404", code)
	}
}
