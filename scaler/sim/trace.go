// Package sim replays a request trace through a discrete-event model of one
// pool (instances with a fixed number of request slots, cold start, slow
// start, an optional warm pool, a FIFO queue at the load balancer) under
// Spillway's scaler and under baselines, and reports what users waited and
// what the replicas cost.
package sim

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request is one request of a trace: when it arrives and how long an
// instance takes to serve it once it has a slot.
type Request struct {
	Arrival time.Duration
	Service time.Duration
}

// Dist is a service-time distribution: uniform between Min and Max, or a
// fixed time when they are equal.
type Dist struct {
	Min, Max time.Duration
}

// Mean is the distribution's mean.
func (d Dist) Mean() time.Duration { return (d.Min + d.Max) / 2 }

func (d Dist) draw(r *rand.Rand) time.Duration {
	if d.Max <= d.Min {
		return d.Min
	}
	return d.Min + time.Duration(r.Int64N(int64(d.Max-d.Min)))
}

// RatePoint sets the arrival rate at one moment; the rate between two
// points is interpolated linearly, so that a ramp takes two rows and a step
// two rows at the same second.
type RatePoint struct {
	At   time.Duration
	Rate float64
}

// Trace is a workload in one of two forms: explicit Requests, or Rates with
// a Service distribution from which requests are drawn as a Poisson
// process.
type Trace struct {
	// Name is the file the trace came from, for reports.
	Name     string
	Requests []Request
	Rates    []RatePoint
	Service  Dist
}

// End is when the trace stops: the last rate point, or the last arrival.
func (t Trace) End() time.Duration {
	if len(t.Rates) > 0 {
		return t.Rates[len(t.Rates)-1].At
	}
	if n := len(t.Requests); n > 0 {
		return t.Requests[n-1].Arrival
	}
	return 0
}

// Expand returns the trace's requests sorted by arrival. A rate trace is
// drawn with the given seed, so the same seed gives the same requests.
func (t Trace) Expand(seed uint64) []Request {
	if len(t.Rates) == 0 {
		return slices.Clone(t.Requests)
	}
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []Request
	for i := 1; i < len(t.Rates); i++ {
		out = appendSegment(out, r, t.Rates[i-1], t.Rates[i], t.Service)
	}
	return out
}

// appendSegment draws Poisson arrivals between two rate points by thinning:
// candidates at the segment's peak rate, each kept with probability
// rate(t)/peak.
func appendSegment(out []Request, r *rand.Rand, a, b RatePoint, svc Dist) []Request {
	peak := max(a.Rate, b.Rate)
	span := (b.At - a.At).Seconds()
	if peak <= 0 || span <= 0 {
		return out
	}
	for t := r.ExpFloat64() / peak; t < span; t += r.ExpFloat64() / peak {
		rate := a.Rate + (b.Rate-a.Rate)*t/span
		if r.Float64()*peak >= rate {
			continue
		}
		at := a.At + time.Duration(t*float64(time.Second))
		out = append(out, Request{Arrival: at, Service: svc.draw(r)})
	}
	return out
}

// ReadTrace reads a trace file; see ParseTrace for the format.
func ReadTrace(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, fmt.Errorf("reading trace: %w", err)
	}
	defer f.Close()
	return ParseTrace(f, path)
}

// ParseTrace reads a CSV trace. Lines starting with # are comments, except
// "# service: uniform 10s 30s" (or "fixed 20s"), which gives the service
// time of a rate trace. The first other line is a header that picks the
// form: "arrival_s,service_s" for one request per row, or "second,rate"
// for rate points. Errors name the file and line.
func ParseTrace(r io.Reader, name string) (Trace, error) {
	p := traceParser{name: filepath.Base(name), tr: Trace{Name: filepath.Base(name)}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.line++
		if err := p.parseLine(strings.TrimSpace(sc.Text())); err != nil {
			return Trace{}, err
		}
	}
	if err := sc.Err(); err != nil {
		return Trace{}, fmt.Errorf("%s: reading: %w", p.name, err)
	}
	return p.finish()
}

type traceParser struct {
	name    string
	line    int
	form    string
	tr      Trace
	hasSvc  bool
	svcLine int
}

func (p *traceParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, p.line, fmt.Sprintf(format, args...))
}

func (p *traceParser) parseLine(line string) error {
	switch {
	case line == "":
		return nil
	case strings.HasPrefix(line, "#"):
		return p.parseComment(strings.TrimSpace(strings.TrimPrefix(line, "#")))
	case p.form == "":
		return p.parseHeader(line)
	}
	fields := strings.Split(line, ",")
	if len(fields) != 2 {
		return p.errorf("want 2 fields, got %d in %q", len(fields), line)
	}
	if p.form == "requests" {
		return p.parseRequest(fields)
	}
	return p.parseRate(fields)
}

func (p *traceParser) parseComment(text string) error {
	spec, ok := strings.CutPrefix(text, "service:")
	if !ok {
		return nil
	}
	d, err := ParseDist(spec)
	if err != nil {
		return p.errorf("service: %v", err)
	}
	p.tr.Service, p.hasSvc, p.svcLine = d, true, p.line
	return nil
}

func (p *traceParser) parseHeader(line string) error {
	cols := strings.ReplaceAll(line, " ", "")
	switch cols {
	case "arrival_s,service_s":
		p.form = "requests"
	case "second,rate":
		p.form = "rates"
	default:
		return p.errorf("header %q: want arrival_s,service_s or second,rate", line)
	}
	return nil
}

func (p *traceParser) parseRequest(fields []string) error {
	at, err := p.seconds("arrival_s", fields[0])
	if err != nil {
		return err
	}
	svc, err := p.seconds("service_s", fields[1])
	if err != nil {
		return err
	}
	if svc <= 0 {
		return p.errorf("service_s: must be above 0, got %s", strings.TrimSpace(fields[1]))
	}
	p.tr.Requests = append(p.tr.Requests, Request{Arrival: at, Service: svc})
	return nil
}

func (p *traceParser) parseRate(fields []string) error {
	at, err := p.seconds("second", fields[0])
	if err != nil {
		return err
	}
	rate, err := p.number("rate", fields[1])
	if err != nil {
		return err
	}
	if n := len(p.tr.Rates); n > 0 && at < p.tr.Rates[n-1].At {
		return p.errorf("second: %s is before the previous row", strings.TrimSpace(fields[0]))
	}
	p.tr.Rates = append(p.tr.Rates, RatePoint{At: at, Rate: rate})
	return nil
}

func (p *traceParser) number(field, s string) (float64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, p.errorf("%s: not a number: %q", field, s)
	}
	if v < 0 {
		return 0, p.errorf("%s: must not be negative, got %s", field, s)
	}
	return v, nil
}

func (p *traceParser) seconds(field, s string) (time.Duration, error) {
	v, err := p.number(field, s)
	if err != nil {
		return 0, err
	}
	return time.Duration(v * float64(time.Second)), nil
}

func (p *traceParser) finish() (Trace, error) {
	switch {
	case p.form == "":
		return Trace{}, fmt.Errorf("%s: no header: want arrival_s,service_s or second,rate", p.name)
	case p.form == "requests" && len(p.tr.Requests) == 0:
		return Trace{}, fmt.Errorf("%s: no requests", p.name)
	case p.form == "rates" && len(p.tr.Rates) < 2:
		return Trace{}, fmt.Errorf("%s: a rate trace needs at least two rows", p.name)
	case p.form == "requests" && p.hasSvc:
		return Trace{}, fmt.Errorf("%s:%d: service: a per-request trace gives each request's time",
			p.name, p.svcLine)
	}
	slices.SortStableFunc(p.tr.Requests, func(a, b Request) int {
		return cmp.Compare(a.Arrival, b.Arrival)
	})
	return p.tr, nil
}

// ParseDist reads "uniform 10s 30s" or "fixed 20s".
func ParseDist(spec string) (Dist, error) {
	spec = strings.TrimSpace(spec)
	f := strings.Fields(spec)
	if len(f) == 0 {
		return Dist{}, fmt.Errorf("empty; want \"uniform MIN MAX\" or \"fixed D\"")
	}
	parse := func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("bad duration %q: want a positive duration such as 10s", s)
		}
		return d, nil
	}
	switch {
	case f[0] == "fixed" && len(f) == 2:
		d, err := parse(f[1])
		return Dist{Min: d, Max: d}, err
	case f[0] == "uniform" && len(f) == 3:
		lo, err := parse(f[1])
		if err != nil {
			return Dist{}, err
		}
		hi, err := parse(f[2])
		if err == nil && hi < lo {
			err = fmt.Errorf("max %s is below min %s", f[2], f[1])
		}
		return Dist{Min: lo, Max: hi}, err
	}
	return Dist{}, fmt.Errorf("%q: want \"uniform MIN MAX\" or \"fixed D\"", spec)
}
