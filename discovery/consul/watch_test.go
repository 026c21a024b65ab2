package consul

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestNextIndex(t *testing.T) {
	tests := []struct {
		name      string
		prev, got uint64
		want      uint64
	}{
		{"first answer", 0, 17, 17},
		{"moved forward", 17, 20, 20},
		{"unchanged after a timeout", 20, 20, 20},
		{"went backwards: start over", 20, 5, 0},
		{"zero would busy-loop", 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextIndex(tt.prev, tt.got); got != tt.want {
				t.Errorf("nextIndex(%d, %d) = %d, want %d", tt.prev, tt.got, got, tt.want)
			}
		})
	}
}

func TestPause(t *testing.T) {
	p := defaultRetry
	tests := []struct {
		failures int
		lo, hi   time.Duration
	}{
		{1, 125 * time.Millisecond, 250 * time.Millisecond},
		{2, 250 * time.Millisecond, 500 * time.Millisecond},
		{5, 2 * time.Second, 4 * time.Second},
		{8, 15 * time.Second, 30 * time.Second},
		{100, 15 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d failures", tt.failures), func(t *testing.T) {
			for range 200 {
				if d := p.pause(time.Now(), tt.failures); d < tt.lo || d > tt.hi {
					t.Fatalf("pause = %v, want within [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
	t.Run("success waits out the minimum interval", func(t *testing.T) {
		if d := p.pause(time.Now(), 0); d <= 0 || d > p.minInterval {
			t.Errorf("pause right after a query = %v, want within (0, %v]", d, p.minInterval)
		}
		if d := p.pause(time.Now().Add(-time.Second), 0); d > 0 {
			t.Errorf("pause after a long query = %v, want none", d)
		}
	})
}

func TestJitter(t *testing.T) {
	for range 200 {
		if d := jitter(time.Minute); d <= time.Minute*7/8 || d > time.Minute {
			t.Fatalf("jitter(1m) = %v, want within (52.5s, 1m]", d)
		}
	}
}

func TestErrorReason(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/v1/health/service/x",
		Err: syscall.ECONNREFUSED}
	timedOut := &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("querying: %w", refused), "unreachable"},
		{fmt.Errorf("querying: %w", timedOut), "timeout"},
		{api.StatusError{Code: 403, Body: "ACL not found"}, "forbidden"},
		{fmt.Errorf("querying: %w", api.StatusError{Code: 500, Body: "No cluster leader"}),
			"server_error"},
		{api.StatusError{Code: 400, Body: "bad"}, "client_error"},
		{errors.New("invalid character 'x'"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := errorReason(tt.err); got != tt.want {
				t.Errorf("errorReason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
