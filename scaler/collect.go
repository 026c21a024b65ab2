package scaler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default scrape settings, used where ScraperConfig leaves a zero.
const (
	DefaultScrapeTimeout = 2 * time.Second
	DefaultStaleAfter    = 15 * time.Second
)

// statsPath asks Envoy for cluster stats only: the full body of a busy Envoy
// runs to megabytes, and the filter is matched against the dotted stat name
// (cluster.<name>.upstream_rq_total) before tags are extracted.
const statsPath = "/stats/prometheus?filter=%5Ecluster%5C."

// Signal is one pool's picture at one moment, summed over every Envoy: what
// the decide step works from.
type Signal struct {
	// At is when the newest scrape behind the signal was taken.
	At time.Time
	// Active and Pending are requests in flight to the pool's instances and
	// requests waiting in Envoy for a connection to one.
	Active  float64
	Pending float64
	// RPS is the request rate between the last two scrapes.
	RPS float64
	// Samples is how many requests completed between the last two scrapes;
	// the latency quantiles are meaningful only when it is above zero.
	Samples       float64
	P50, P95, P99 time.Duration
	// Healthy and Members are the pool's hosts as the Envoys see them.
	Healthy int
	Members int
	// Stale is set when some Envoy's scrape failed or is too old; the
	// decide step then holds the pool where it is.
	Stale       bool
	StaleReason string
	// Ignored lists values that were read but not used, with the reason.
	Ignored []Ignored
}

// Demand is the work in the pool: requests being served plus requests
// waiting for an instance.
func (s Signal) Demand() float64 { return s.Active + s.Pending }

// ScraperConfig configures a Scraper. Zero durations take the defaults.
type ScraperConfig struct {
	// Admins are the Envoy admin endpoints, host:port or a URL.
	Admins []string
	// ListEnvoys, when set, lists the Envoy admin endpoints anew before
	// every scrape, in place of Admins: the Envoys registered in Consul,
	// for example. While it fails, the last list stays in use and the
	// signal read from the Envoys is stale.
	ListEnvoys func(ctx context.Context) ([]string, error)
	// Prometheus, when set, is the URL of a Prometheus server that scrapes
	// the Envoys: the signal then comes from its query API, and the
	// Envoys, if any, serve only to see each host's requests.
	Prometheus string
	// Window is the range of Prometheus's rates and latency quantiles,
	// normally the stats interval; zero means DefaultWindow.
	Window     time.Duration
	Timeout    time.Duration
	StaleAfter time.Duration
	Client     *http.Client
	Logger     *slog.Logger
	// Now is the clock, replaceable in tests.
	Now func() time.Time
}

// Scraper reads the stats of a list of Envoys, or queries a Prometheus
// server that scrapes them, and turns them into per-pool signals. Scrape
// and Signal may be called from different goroutines.
type Scraper struct {
	cfg  ScraperConfig
	prom *promSource // nil unless the signal comes from Prometheus

	mu     sync.Mutex
	envoys []*envoyState
	// listErr is the last failure of ListEnvoys, nil once it succeeds.
	listErr error
}

// envoyState keeps the last two good scrapes of one Envoy, for counter and
// histogram deltas, and the outcome of the most recent attempt.
type envoyState struct {
	admin    string
	last     *Snapshot
	lastAt   time.Time
	prev     *Snapshot
	prevAt   time.Time
	err      error
	tried    bool
	failedAt time.Time
}

// NewScraper returns a scraper of cfg.Admins with defaults filled in.
func NewScraper(cfg ScraperConfig) *Scraper {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultScrapeTimeout
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scraper{cfg: cfg}
	if cfg.Prometheus != "" {
		s.prom = newPromSource(cfg)
	}
	for _, a := range cfg.Admins {
		s.envoys = append(s.envoys, &envoyState{admin: a})
	}
	return s
}

// Scrape reads every Envoy once, concurrently, and returns the failures
// joined. A failed Envoy keeps its last good stats, which go stale in time.
// With Prometheus it queries Prometheus instead, and only refreshes the
// list of Envoys, which then serve for their hosts alone.
func (s *Scraper) Scrape(ctx context.Context) error {
	listErr := s.refreshEnvoys(ctx)
	if s.prom != nil {
		return errors.Join(listErr, s.prom.query(ctx))
	}
	envoys := s.current()
	errs := make([]error, len(envoys)+1)
	errs[len(envoys)] = listErr
	var wg sync.WaitGroup
	for i, e := range envoys {
		wg.Go(func() {
			snap, err := s.fetchStats(ctx, e.admin)
			s.record(e, snap, err)
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Scraper) record(e *envoyState, snap *Snapshot, err error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e.tried = true
	if err != nil {
		if e.err == nil {
			s.cfg.Logger.Warn("envoy stats scrape failed", "admin", e.admin, "err", err)
		}
		e.err, e.failedAt = err, now
		return
	}
	if e.err != nil {
		s.cfg.Logger.Info("envoy stats scrape recovered", "admin", e.admin)
	}
	e.err = nil
	e.prev, e.prevAt = e.last, e.lastAt
	e.last, e.lastAt = snap, now
}

func (s *Scraper) fetchStats(ctx context.Context, admin string) (*Snapshot, error) {
	body, err := s.get(ctx, admin, statsPath)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	snap, err := ParseStats(body)
	if err != nil {
		return nil, fmt.Errorf("envoy %s: %w", admin, err)
	}
	return snap, nil
}

// get fetches path from an Envoy admin endpoint within the scrape timeout.
// The caller closes the body; the timeout's context lives until then.
func (s *Scraper) get(ctx context.Context, admin, path string) (io.ReadCloser, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL(admin)+path, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("envoy %s: building request: %w", admin, err)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("envoy %s: %w", admin, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("envoy %s: GET %s: %s", admin, path, resp.Status)
	}
	return cancelOnClose{resp.Body, cancel}, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func adminURL(admin string) string {
	if strings.Contains(admin, "://") {
		return strings.TrimSuffix(admin, "/")
	}
	return "http://" + admin
}

// Instances reads /clusters from every Envoy and merges their views of
// cluster's hosts, for choosing scale-in victims. Any failed Envoy fails the
// call: a victim chosen on a partial view might be busy elsewhere. With no
// Envoy to ask, as with Prometheus alone, it returns no hosts and no
// error: the victims are then chosen by address alone.
func (s *Scraper) Instances(ctx context.Context, cluster string) ([]Instance, error) {
	if len(s.current()) == 0 {
		return nil, nil
	}
	views, err := s.views(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return MergeInstances(views...), nil
}

// views reads /clusters from every Envoy and returns each one's hosts of
// cluster, unmerged: a drain must see that every Envoy stopped sending.
// With no Envoy to ask it fails, so that a drain waits out its deadline
// rather than finding nobody busy.
func (s *Scraper) views(ctx context.Context, cluster string) ([][]Instance, error) {
	envoys := s.current()
	if len(envoys) == 0 {
		return nil, errNoEnvoys
	}
	views := make([][]Instance, 0, len(envoys))
	for _, e := range envoys {
		body, err := s.get(ctx, e.admin, "/clusters?format=json")
		if err != nil {
			return nil, err
		}
		all, err := ParseClusters(body)
		body.Close()
		if err != nil {
			return nil, fmt.Errorf("envoy %s: %w", e.admin, err)
		}
		views = append(views, all[cluster])
	}
	return views, nil
}

// Signal sums the latest stats of cluster over every Envoy at time now.
// It is stale when an Envoy's last scrape failed, when its last good scrape
// is older than StaleAfter, or when no Envoy reports the cluster at all.
// With Prometheus, the signal is Prometheus's answer (see promSource).
func (s *Scraper) Signal(cluster string, now time.Time) Signal {
	if s.prom != nil {
		return s.prom.signal(cluster, now)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var sig Signal
	var latency Histogram
	seen := false
	if s.listErr != nil {
		sig.markStale(fmt.Sprintf("listing envoys: %v", s.listErr))
	}
	for _, e := range s.envoys {
		s.checkFresh(&sig, e, now)
		if e.last == nil || e.last.Clusters[cluster] == nil {
			continue
		}
		seen = true
		sig.addEnvoy(cluster, e, &latency)
	}
	if !seen && !sig.Stale {
		sig.markStale(fmt.Sprintf("no envoy reports cluster %s", cluster))
	}
	sig.setQuantiles(latency)
	return sig
}

func (s *Scraper) checkFresh(sig *Signal, e *envoyState, now time.Time) {
	switch {
	case e.err != nil:
		sig.markStale(fmt.Sprintf("scrape failed: %v", e.err))
	case !e.tried || e.last == nil:
		sig.markStale(fmt.Sprintf("no stats from %s yet", e.admin))
	case now.Sub(e.lastAt) > s.cfg.StaleAfter:
		age := now.Sub(e.lastAt).Round(time.Second)
		sig.markStale(fmt.Sprintf("stats from %s are %s old", e.admin, age))
	}
}

// markStale keeps the first reason: it is the one an operator acts on.
func (s *Signal) markStale(reason string) {
	if !s.Stale {
		s.Stale, s.StaleReason = true, reason
	}
}

// addEnvoy adds one Envoy's view of cluster. Requests in flight add up over
// Envoys; membership does not, since every Envoy sees the same hosts, so the
// largest view is kept.
func (s *Signal) addEnvoy(cluster string, e *envoyState, latency *Histogram) {
	cur := e.last.Clusters[cluster]
	s.At = later(s.At, e.lastAt)
	s.Active += cur.Active
	s.Pending += cur.Pending
	s.Healthy = max(s.Healthy, int(cur.Healthy))
	s.Members = max(s.Members, int(cur.Members))
	for _, ig := range e.last.Ignored {
		if ig.Cluster == cluster {
			s.Ignored = append(s.Ignored, ig)
		}
	}
	if e.prev == nil || e.prev.Clusters[cluster] == nil {
		return
	}
	s.addDeltas(cluster, e, cur, e.prev.Clusters[cluster], latency)
}

func (s *Signal) addDeltas(cluster string, e *envoyState, cur, prev *ClusterStats,
	latency *Histogram) {
	if secs := e.lastAt.Sub(e.prevAt).Seconds(); secs > 0 {
		if cur.Requests >= prev.Requests {
			s.RPS += (cur.Requests - prev.Requests) / secs
		} else {
			s.ignore(cluster, metricRequests, "counter went down (envoy restarted); rate skipped")
		}
	}
	d, ok := cur.Latency.Sub(prev.Latency)
	if !ok {
		s.ignore(cluster, metricTime, "histogram went down or changed buckets; interval skipped")
		return
	}
	sum, ok := latency.Add(d)
	if !ok {
		s.ignore(cluster, metricTime, "buckets differ between envoys; one envoy skipped")
		return
	}
	*latency = sum
}

func (s *Signal) ignore(cluster, metric, reason string) {
	s.Ignored = append(s.Ignored, Ignored{Cluster: cluster, Metric: metric, Reason: reason})
}

func (s *Signal) setQuantiles(h Histogram) {
	s.Samples = h.Count
	s.P50 = msDuration(h.Quantile(0.50))
	s.P95 = msDuration(h.Quantile(0.95))
	s.P99 = msDuration(h.Quantile(0.99))
}

func msDuration(ms float64) time.Duration {
	if math.IsNaN(ms) {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
