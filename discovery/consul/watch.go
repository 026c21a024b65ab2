package consul

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
)

// retryPolicy paces a watch: the shortest gap between two queries, which
// keeps a flapping service from turning the watch into a busy loop, and
// the capped exponential backoff after failures.
type retryPolicy struct {
	minInterval time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
}

var defaultRetry = retryPolicy{
	minInterval: 100 * time.Millisecond,
	minBackoff:  250 * time.Millisecond,
	maxBackoff:  30 * time.Second,
}

// requestSlack is added to a blocking query's wait for its HTTP deadline:
// the server may add up to wait/16 of jitter, and the answer must travel.
const requestSlack = 10 * time.Second

// watch runs the blocking-query loop of one service until ctx ends,
// sending every answer and every failure to results.
func (s *Source) watch(ctx context.Context, service string, results chan<- result) {
	var index uint64
	failures := 0
	for {
		start := time.Now()
		list, meta, err := s.query(ctx, service, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			// The agent may have restarted with a younger index, and a
			// blocking query on a future index would hang for the whole
			// wait: start again with a plain read.
			index = 0
			s.failed(service, err, failures)
		} else {
			if failures > 0 {
				s.log.Info("consul watch recovered", "service", service, "failures", failures)
			}
			failures = 0
			index = nextIndex(index, meta.LastIndex)
		}
		if !deliver(ctx, results, result{service: service, instances: list, err: err}) {
			return
		}
		if !sleep(ctx, s.retry.pause(start, failures)) {
			return
		}
	}
}

// query runs one (blocking, when index > 0) health query for service.
func (s *Source) query(ctx context.Context, service string, index uint64) (
	[]discovery.Instance, *api.QueryMeta, error) {
	wait := jitter(s.cfg.waitTime())
	ctx, cancel := context.WithTimeout(ctx, wait+wait/16+requestSlack)
	defer cancel()
	q := &api.QueryOptions{
		Datacenter: s.cfg.Datacenter,
		AllowStale: s.cfg.Stale,
		WaitIndex:  index,
		WaitTime:   wait,
	}

	start := time.Now()
	entries, meta, err := s.client.Health().Service(service, "", false, q.WithContext(ctx))
	s.m.WatchLatency.WithLabelValues(sourceName).Observe(time.Since(start).Seconds())
	if err != nil {
		return nil, nil, fmt.Errorf("querying health of service %s: %w", service, err)
	}
	s.log.Debug("consul answered", "service", service, "index", meta.LastIndex,
		"instances", len(entries), "query_backend", meta.QueryBackend)
	return instances(entries, s.cfg.Datacenter), meta, nil
}

// failed counts a failure and logs it: a warning for the first of a run,
// since the peer's error text matters once, then at debug level.
func (s *Source) failed(service string, err error, failures int) {
	reason := errorReason(err)
	s.m.Errors.WithLabelValues(sourceName, reason).Inc()
	if failures == 1 {
		s.log.Warn("consul watch failed, keeping the last good instances",
			"service", service, "reason", reason, "err", err)
		return
	}
	s.log.Debug("consul watch failed again", "service", service, "reason", reason,
		"failures", failures, "err", err)
}

// nextIndex returns the index for the next blocking query. An index that
// went backwards means the servers' state was reset (a restore, a new
// cluster): read again from scratch. Zero would make the next query return
// at once, and a run of those is a busy loop, so it becomes 1.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got == 0:
		return 1
	default:
		return got
	}
}

// pause returns how long to wait before the next query, given when the
// last one started and how many failures in a row there have been.
func (p retryPolicy) pause(start time.Time, failures int) time.Duration {
	if failures == 0 {
		return p.minInterval - time.Since(start)
	}
	d := p.maxBackoff
	if failures <= 30 {
		d = min(p.minBackoff<<(failures-1), p.maxBackoff)
	}
	// Half fixed, half random: retries stay spread out across the many
	// watches that fail together when an agent goes away.
	return d/2 + rand.N(d/2+1)
}

// jitter shortens a wait by up to an eighth, so that the watches started
// together do not all time out together.
func jitter(wait time.Duration) time.Duration {
	if wait < 8 {
		return wait
	}
	return wait - rand.N(wait/8)
}

// errorReason classifies an error for the errors metric, with a small,
// fixed set of values.
func errorReason(err error) string {
	var status api.StatusError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &status) && status.Code == http.StatusForbidden:
		return "forbidden"
	case errors.As(err, &status) && status.Code >= 500:
		return "server_error"
	case errors.As(err, &status):
		return "client_error"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &netErr):
		return "unreachable"
	default:
		return "other"
	}
}

func deliver(ctx context.Context, results chan<- result, r result) bool {
	select {
	case results <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
