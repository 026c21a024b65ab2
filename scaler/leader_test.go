package scaler

import (
	"context"
	"testing"
	"time"

	"github.com/spillway/spillway/internal/consultest"
)

// candidate is one Elect running on its own context, reporting its terms.
type candidate struct {
	cancel  context.CancelFunc
	done    chan error
	leading chan bool
	// ended receives when a term's lead function returns.
	ended chan struct{}
}

func campaign(t *testing.T, agent *consultest.Agent, cfg LeaderConfig) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{cancel: cancel, done: make(chan error, 1), leading: make(chan bool, 16),
		ended: make(chan struct{}, 16)}
	cfg.Leading = func(on bool) { c.leading <- on }
	go func() {
		c.done <- Elect(ctx, agent.Client(), cfg, func(ctx context.Context) {
			<-ctx.Done()
			c.ended <- struct{}{}
		})
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *candidate) stop() {
	c.cancel()
	<-c.done
	c.done <- nil // a second stop returns at once
}

// expectLeading waits up to within for the candidate's next change.
func expectLeading(t *testing.T, name string, c *candidate, want bool, within time.Duration) {
	t.Helper()
	select {
	case got := <-c.leading:
		if got != want {
			t.Fatalf("%s: leading = %v, want %v", name, got, want)
		}
	case <-time.After(within):
		t.Fatalf("%s: leading did not become %v within %v", name, want, within)
	}
}

// TestElect runs two scalers on one lock: one leads at a time, a stopped
// leader hands over within the lock's bound, and a leader whose session is
// destroyed under it stops leading and campaigns again.
func TestElect(t *testing.T) {
	agent := consultest.Start(t)
	cfg := LeaderConfig{Key: "spillway/test/leader", SessionTTL: 10 * time.Second,
		LockDelay: time.Second, LockWait: time.Second}
	// A leader that stops gracefully frees the lock at once; one that dies
	// holds it until its session expires and then for the lock delay.
	bound := 2*cfg.SessionTTL + cfg.LockDelay

	first := campaign(t, agent, cfg)
	expectLeading(t, "first", first, true, bound)
	second := campaign(t, agent, cfg)
	select {
	case on := <-second.leading:
		t.Fatalf("second: leading = %v while the first leads", on)
	case <-time.After(2 * cfg.LockWait):
	}

	first.stop()
	expectLeading(t, "first", first, false, time.Second)
	expectLeading(t, "second", second, true, bound)

	pair, _, err := agent.Client().KV().Get(cfg.Key, nil)
	if err != nil || pair == nil || pair.Session == "" {
		t.Fatalf("lock key = %+v, %v; want it held by a session", pair, err)
	}
	if _, err := agent.Client().Session().Destroy(pair.Session, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-second.ended:
	case <-time.After(bound):
		t.Fatalf("the lead did not stop within %v of losing the session", bound)
	}
	expectLeading(t, "second", second, false, time.Second)
	expectLeading(t, "second, again", second, true, bound)
}
