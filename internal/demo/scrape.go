package demo

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The example server's own gauges and counter, named after vLLM's
// num_requests_waiting and num_requests_running.
const (
	metricWaiting  = "inference_requests_waiting"
	metricRunning  = "inference_requests_running"
	metricRequests = "inference_requests_total"
)

// load is what one instance reports of itself.
type load struct {
	waiting, running float64
	// requests counts every request that reached it, served or refused.
	requests float64
}

// busy is the requests the instance holds: queued or being served.
func (l load) busy() float64 { return l.waiting + l.running }

// scraper reads the instances' /metrics, as a Prometheus would scrape a
// real model server.
type scraper struct {
	client *http.Client
}

func newScraper() *scraper {
	return &scraper{client: &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}}
}

// close drops the idle connections, whose goroutines would outlive the demo.
func (s *scraper) close() { s.client.CloseIdleConnections() }

// scrape reads the load of the instance at addr.
func (s *scraper) scrape(ctx context.Context, addr string) (load, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return load{}, fmt.Errorf("scraping %s: %w", addr, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return load{}, fmt.Errorf("scraping %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return load{}, fmt.Errorf("scraping %s: status %s", addr, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return load{}, fmt.Errorf("scraping %s: %w", addr, err)
	}
	return load{
		waiting:  sum(families[metricWaiting]),
		running:  sum(families[metricRunning]),
		requests: sum(families[metricRequests]),
	}, nil
}

// sum adds up every sample of a gauge or counter family; nil is 0.
func sum(f *dto.MetricFamily) float64 {
	var total float64
	for _, m := range f.GetMetric() {
		total += m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
	}
	return total
}
