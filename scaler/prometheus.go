package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultWindow is the range of Prometheus's rates and quantiles when
// ScraperConfig leaves it zero: the scaler's default stats interval.
const DefaultWindow = 5 * time.Second

// maxPromBody bounds a query answer: one number per cluster is far less.
const maxPromBody = 16 << 20

// The keys of the answers a round of queries yields, one per query.
const (
	keyActive  = "active"
	keyPending = "pending"
	keyRPS     = "rps"
	keySamples = "samples"
	keyP50     = "p50"
	keyP95     = "p95"
	keyP99     = "p99"
	keyHealthy = "healthy"
	keyMembers = "members"
)

// promQuery is one instant query, answering one value per Envoy cluster.
type promQuery struct {
	key    string
	metric string // the Envoy metric read, for Ignored
	expr   string
}

// promQueries are the queries of one round. In-flight requests add up over
// the Envoys and membership does not, as when the Envoys are read
// directly. Envoy's latency buckets are in milliseconds, and so are the
// quantiles.
func promQueries(window time.Duration) []promQuery {
	w := promDuration(window)
	sum := func(expr string) string { return "sum by (" + labelCluster + ") (" + expr + ")" }
	most := func(expr string) string { return "max by (" + labelCluster + ") (" + expr + ")" }
	quantile := func(q string) string {
		return "histogram_quantile(" + q + ", sum by (le, " + labelCluster + ") (rate(" +
			metricTime + "_bucket[" + w + "])))"
	}
	return []promQuery{
		{keyActive, metricActive, sum(metricActive)},
		{keyPending, metricPending, sum(metricPending)},
		{keyRPS, metricRequests, sum("rate(" + metricRequests + "[" + w + "])")},
		{keySamples, metricTime, sum("increase(" + metricTime + "_count[" + w + "])")},
		{keyP50, metricTime, quantile("0.5")},
		{keyP95, metricTime, quantile("0.95")},
		{keyP99, metricTime, quantile("0.99")},
		{keyHealthy, metricHealthy, most(metricHealthy)},
		{keyMembers, metricMembers, most(metricMembers)},
	}
}

// promDuration writes d in PromQL's duration syntax.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// promSource reads the pools' signals from a Prometheus server that
// scrapes the Envoys. A round's answers are used only when every query
// succeeded with at least one series: a partial round would mix moments.
type promSource struct {
	base       string
	queries    []promQuery
	timeout    time.Duration
	staleAfter time.Duration
	client     *http.Client
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	answers map[string]map[string]float64 // key → cluster → value
	at      time.Time                     // of the last good round
	err     error                         // of the last round
	tried   bool
}

func newPromSource(cfg ScraperConfig) *promSource {
	window := cfg.Window
	if window <= 0 {
		window = DefaultWindow
	}
	return &promSource{base: strings.TrimSuffix(cfg.Prometheus, "/"),
		queries: promQueries(window), timeout: cfg.Timeout, staleAfter: cfg.StaleAfter,
		client: cfg.Client, log: cfg.Logger, now: cfg.Now}
}

// query runs every query of a round at once and keeps the answers if all
// of them succeeded.
func (p *promSource) query(ctx context.Context) error {
	answers := make(map[string]map[string]float64, len(p.queries))
	errs := make([]error, len(p.queries))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, q := range p.queries {
		wg.Go(func() {
			byCluster, err := p.instant(ctx, q.expr)
			mu.Lock()
			defer mu.Unlock()
			answers[q.key], errs[i] = byCluster, err
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	p.record(answers, err)
	return err
}

func (p *promSource) record(answers map[string]map[string]float64, err error) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tried = true
	switch {
	case err != nil && p.err == nil:
		p.log.Warn("prometheus query failed", "prometheus", p.base, "err", err)
	case err == nil && p.err != nil:
		p.log.Info("prometheus queries recovered", "prometheus", p.base)
	}
	p.err = err
	if err == nil {
		p.answers, p.at = answers, now
	}
}

// promAnswer is the part of the query API's JSON answer the scaler reads.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			// Value is [unix time, "value"]; the value is a string so
			// that NaN and ±Inf can be written.
			Value [2]json.RawMessage `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// instant runs one instant query and returns its value per cluster. An
// answer with no series fails: the metric is missing altogether.
func (p *promSource) instant(ctx context.Context, expr string) (map[string]float64, error) {
	ans, err := p.get(ctx, expr)
	if err != nil {
		return nil, fmt.Errorf("prometheus query %s: %w", expr, err)
	}
	if ans.Data.ResultType != "vector" {
		return nil, fmt.Errorf("prometheus query %s: want a vector, got %q", expr,
			ans.Data.ResultType)
	}
	out := make(map[string]float64, len(ans.Data.Result))
	for _, r := range ans.Data.Result {
		cluster := r.Metric[labelCluster]
		if cluster == "" {
			continue
		}
		var s string
		if err := json.Unmarshal(r.Value[1], &s); err != nil {
			return nil, fmt.Errorf("prometheus query %s: cluster %s: value: %w", expr, cluster, err)
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("prometheus query %s: cluster %s: %w", expr, cluster, err)
		}
		out[cluster] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prometheus query %s: no series with label %s", expr, labelCluster)
	}
	return out, nil
}

// get asks /api/v1/query within the scrape timeout. Prometheus answers an
// error in the same JSON, with a 4xx or 5xx status; its text is kept.
func (p *promSource) get(ctx context.Context, expr string) (*promAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u := p.base + "/api/v1/query?" + url.Values{"query": {expr}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ans promAnswer
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, maxPromBody)).Decode(&ans)
	switch {
	case ans.Status == "error":
		return nil, fmt.Errorf("%s: %s: %s", resp.Status, ans.ErrorType, ans.Error)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET /api/v1/query: %s", resp.Status)
	case decodeErr != nil:
		return nil, fmt.Errorf("decoding answer: %w", decodeErr)
	case ans.Status != "success":
		return nil, fmt.Errorf("answer status %q", ans.Status)
	}
	return &ans, nil
}

// signal builds cluster's signal from the last good round. It is stale
// when the last round failed, when the last good one is older than
// StaleAfter, or when an answer other than latency's lacks the cluster.
// A cluster without latency answers has no samples, as an Envoy that has
// not reported the histogram. NaN, infinite and negative values are
// dropped and listed in Ignored, except the NaN quantiles of an interval
// without requests, which Prometheus answers for an idle pool.
func (p *promSource) signal(cluster string, now time.Time) Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sig Signal
	switch {
	case p.err != nil:
		sig.markStale(fmt.Sprintf("query failed: %v", p.err))
	case !p.tried || p.answers == nil:
		sig.markStale("no answer from prometheus yet")
	case now.Sub(p.at) > p.staleAfter:
		age := now.Sub(p.at).Round(time.Second)
		sig.markStale(fmt.Sprintf("prometheus answers are %s old", age))
	}
	if p.answers == nil {
		return sig
	}
	sig.At = p.at
	p.fill(&sig, cluster)
	return sig
}

func (p *promSource) fill(sig *Signal, cluster string) {
	value := func(key string, required bool) float64 {
		v, ok := p.answers[key][cluster]
		if !ok {
			if required {
				sig.markStale(fmt.Sprintf("prometheus has no %s for cluster %s",
					p.metricOf(key), cluster))
			}
			return 0
		}
		return p.usable(sig, cluster, key, v)
	}
	sig.Active = value(keyActive, true)
	sig.Pending = value(keyPending, true)
	sig.RPS = value(keyRPS, true)
	sig.Healthy = int(value(keyHealthy, true))
	sig.Members = int(value(keyMembers, true))
	sig.Samples = value(keySamples, false)
	if sig.Samples == 0 {
		return
	}
	sig.P50 = msDuration(value(keyP50, false))
	sig.P95 = msDuration(value(keyP95, false))
	sig.P99 = msDuration(value(keyP99, false))
}

// usable returns v, or 0 with the reason listed when v cannot be used.
func (p *promSource) usable(sig *Signal, cluster, key string, v float64) float64 {
	if reason := badValue(v); reason != "" {
		sig.ignore(cluster, p.metricOf(key), reason)
		return 0
	}
	return v
}

func (p *promSource) metricOf(key string) string {
	for _, q := range p.queries {
		if q.key == key {
			return q.metric
		}
	}
	return key
}
