package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway/spillway/examples/inference-server/server"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	if cfg.listen != "127.0.0.1:9101" || o.GPU != server.GPUA100 || o.Concurrency != 4 ||
		o.Warmup != 5*time.Second || cfg.drainTimeout != 2*time.Minute || cfg.consul != "" ||
		!o.Latency.IsZero() || o.GRPC {
		t.Errorf("defaults = %+v", cfg)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{
		"--listen", "127.0.0.1:9203", "--name", "api-3", "--gpu", "cpu",
		"--latency", "uniform:10ms-50ms", "--concurrency", "16", "--max-queue", "32",
		"--queue-cap", "64", "--warmup", "0s", "--drain-timeout", "10s", "--grpc",
		"--consul", "127.0.0.1:8500", "--service", "api", "--log-level", "debug",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	if cfg.listen != "127.0.0.1:9203" || o.Name != "api-3" || o.GPU != server.GPUCPU ||
		o.Latency.String() != "uniform:10ms-50ms" || o.Concurrency != 16 || o.MaxQueue != 32 ||
		o.QueueCap != 64 || o.Warmup != 0 || cfg.drainTimeout != 10*time.Second || !o.GRPC ||
		cfg.consul != "127.0.0.1:8500" || cfg.service != "api" || cfg.logLevel != slog.LevelDebug {
		t.Errorf("parsed = %+v", cfg)
	}
}

// TestParseFlagsErrors checks that every bad value is reported at once,
// each naming what is wrong.
func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"several bad values", []string{
			"--gpu", "h100", "--latency", "gamma:1s", "--concurrency", "-1",
			"--drain-timeout", "0s", "--log-level", "loud",
		}, []string{`"h100"`, `"gamma:1s"`, "concurrency -1", "--drain-timeout 0s", `"loud"`}},
		{"cap below queue", []string{"--max-queue", "8", "--queue-cap", "4"},
			[]string{"queue cap 4 is below max queue 8"}},
		{"stray argument", []string{"serve"}, []string{`"serve"`}},
		{"not a number", []string{"--concurrency", "many"}, []string{"many"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h = %v, want flag.ErrHelp", err)
	}
}

// TestServeDrainsOnSignal runs the command's main loop, ends it as a
// signal would while a request is in flight, and checks that the request
// completes and the exit code is 0.
func TestServeDrainsOnSignal(t *testing.T) {
	cfg, err := parseFlags([]string{
		"--listen", "127.0.0.1:0", "--warmup", "0s", "--latency", "fixed:500ms",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, signal := context.WithCancel(context.Background())
	defer signal()
	addrs := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	logger := slog.New(slog.DiscardHandler)
	go func() { exit <- serve(ctx, cfg, logger, func(a net.Addr) { addrs <- a }) }()
	url := "http://" + within(t, addrs, "the listen address").String()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	answer := make(chan error, 1)
	go func() { answer <- predict(client, url) }()
	waitRunning(t, client, url)
	signal()

	if err := within(t, answer, "the request in flight"); err != nil {
		t.Errorf("request in flight: %v", err)
	}
	if code := within(t, exit, "serve to return"); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
}

// within returns the next value from ch, or fails after a wait no
// healthy run comes near.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
		var zero T
		return zero
	}
}

func predict(client *http.Client, url string) error {
	resp, err := client.Get(url + "/predict")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res server.Result
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(res.Instance, "a100-") {
		return errors.New("got " + resp.Status + " from " + res.Instance)
	}
	return nil
}

// waitRunning waits until the instance reports one request running.
func waitRunning(t *testing.T, client *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "\ninference_requests_running 1\n") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("gave up waiting for the request to run")
}
