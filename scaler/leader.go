package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/consul/api"
)

// Defaults of LeaderConfig.
const (
	// DefaultSessionTTL is the lock session's TTL. A leader that dies holds
	// the lock until Consul invalidates its session, within about twice
	// this; Consul refuses TTLs under 10s.
	DefaultSessionTTL = 15 * time.Second
	// DefaultLockDelay keeps the lock free for this long after a session
	// is invalidated, so that a leader cut off from Consul has stopped
	// before another starts: a cut-off leader stops once its session can
	// no longer be renewed, which is within the TTL.
	DefaultLockDelay = 15 * time.Second
	// DefaultLockWait bounds one blocking wait for the lock, and so how
	// long a waiting process takes to notice that it should stop.
	DefaultLockWait = 5 * time.Second
	// DefaultMonitorRetries is how many failed reads of the lock the
	// leader rides out, a second apart, before it gives up the lead.
	DefaultMonitorRetries = 3
)

// LeaderConfig configures Elect. Zero fields take the defaults above.
type LeaderConfig struct {
	// Key is the Consul KV key of the lock; required.
	Key            string
	SessionTTL     time.Duration
	LockDelay      time.Duration
	LockWait       time.Duration
	MonitorRetries int
	Logger         *slog.Logger
	// Leading, when set, is called with true when this process becomes
	// the leader and with false when it stops leading.
	Leading func(bool)
}

func (c LeaderConfig) withDefaults() LeaderConfig {
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.LockDelay <= 0 {
		c.LockDelay = DefaultLockDelay
	}
	if c.LockWait <= 0 {
		c.LockWait = DefaultLockWait
	}
	if c.MonitorRetries <= 0 {
		c.MonitorRetries = DefaultMonitorRetries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Leading == nil {
		c.Leading = func(bool) {}
	}
	return c
}

// Elect campaigns for the Consul lock at cfg.Key until ctx ends, and runs
// lead whenever this process holds it. lead's context ends when the lead is
// lost: the lock was taken away, Consul could not be read for
// MonitorRetries seconds, or the session could not be renewed for its TTL;
// lead must then return promptly. Each term has a session of its own,
// destroyed at the end of the term, so that the lock is free at once for
// the next leader. Elect returns nil when ctx ends.
func Elect(ctx context.Context, client *api.Client, cfg LeaderConfig,
	lead func(context.Context)) error {
	if cfg.Key == "" {
		return errors.New("leader election: no lock key")
	}
	cfg = cfg.withDefaults()
	retry := Backoff{Initial: time.Second, Max: cfg.SessionTTL, Attempts: 1}
	for failures := 0; ctx.Err() == nil; {
		if err := term(ctx, client, cfg, lead); err != nil {
			failures++
			wait := retry.delay(failures)
			cfg.Logger.Warn("leader election failed; trying again", "key", cfg.Key,
				"retry_in", wait, "err", err)
			_ = sleep(ctx, wait)
			continue
		}
		failures = 0
	}
	return nil
}

// term waits for the lock with a fresh session and, once it holds it, runs
// lead until the lead is lost or ctx ends. It returns nil when it led or
// ctx ended, and an error when Consul failed it.
func term(ctx context.Context, client *api.Client, cfg LeaderConfig,
	lead func(context.Context)) error {
	sess, err := startSession(ctx, client, cfg)
	if err != nil {
		return err
	}
	defer sess.end()

	lock, err := client.LockOpts(&api.LockOptions{
		Key: cfg.Key, Session: sess.id, LockWaitTime: cfg.LockWait,
		MonitorRetries: cfg.MonitorRetries, MonitorRetryTime: time.Second,
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	lost, err := lock.Lock(sess.stopOn(ctx))
	if err != nil {
		return fmt.Errorf("leader election: acquiring %s: %w", cfg.Key, err)
	}
	if lost == nil {
		return nil // ctx ended or the session expired while waiting
	}
	defer release(lock, cfg)

	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go watchLead(leadCtx, cancel, lost, sess, cfg)
	cfg.Logger.Info("leading the scalers", "key", cfg.Key)
	cfg.Leading(true)
	defer cfg.Leading(false)
	lead(leadCtx)
	return nil
}

// watchLead ends the term's context when the lock is lost or the session
// can no longer be renewed.
func watchLead(ctx context.Context, cancel context.CancelFunc, lost <-chan struct{},
	sess *session, cfg LeaderConfig) {
	select {
	case <-lost:
		cfg.Logger.Warn("lost the scaler leader lock", "key", cfg.Key)
	case <-sess.expired:
		cfg.Logger.Warn("lock session could not be renewed; giving up the lead",
			"key", cfg.Key, "err", sess.err)
	case <-ctx.Done():
	}
	cancel()
}

// release gives the lock up; it may already be lost.
func release(lock *api.Lock, cfg LeaderConfig) {
	if err := lock.Unlock(); err != nil && !errors.Is(err, api.ErrLockNotHeld) {
		cfg.Logger.Warn("releasing the scaler leader lock", "key", cfg.Key, "err", err)
	}
}

// session is a Consul session kept alive in the background. expired is
// closed when it can no longer be renewed, err then says why.
type session struct {
	client  *api.Client
	id      string
	done    chan struct{}
	expired chan struct{}
	err     error
}

func startSession(ctx context.Context, client *api.Client, cfg LeaderConfig) (*session, error) {
	w := (&api.WriteOptions{}).WithContext(ctx)
	id, _, err := client.Session().Create(&api.SessionEntry{
		Name: "spillway scaler " + cfg.Key, TTL: cfg.SessionTTL.String(),
		LockDelay: cfg.LockDelay, Behavior: api.SessionBehaviorRelease,
	}, w)
	if err != nil {
		return nil, fmt.Errorf("leader election: creating a session: %w", err)
	}
	s := &session{client: client, id: id, done: make(chan struct{}), expired: make(chan struct{})}
	go func() {
		// RenewPeriodic destroys the session when done is closed.
		s.err = client.Session().RenewPeriodic(cfg.SessionTTL.String(), id,
			&api.WriteOptions{}, s.done)
		close(s.expired)
	}()
	return s, nil
}

// stopOn returns a channel closed when ctx ends or the session expires:
// what should end a wait for the lock.
func (s *session) stopOn(ctx context.Context) <-chan struct{} {
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		select {
		case <-ctx.Done():
		case <-s.expired:
		case <-s.done:
		}
	}()
	return stop
}

// end destroys the session and waits until its renewal has stopped.
func (s *session) end() {
	close(s.done)
	<-s.expired
}
