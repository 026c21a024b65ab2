package driver

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spillway/spillway/internal/bench/loadserver"
)

// Report is the outcome of Run.
type Report struct {
	Config   Config    `json:"-"`
	Machine  Machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// LoadBefore and LoadAfter are the one-minute load averages when the
	// run started and finished.
	LoadBefore string    `json:"load_before"`
	LoadAfter  string    `json:"load_after"`
	Results    []*Result `json:"results"`
}

// result returns the result of impl in mode, or nil.
func (r *Report) result(impl, mode string) *Result {
	for _, res := range r.Results {
		if res.Impl == impl && res.Mode == mode {
			return res
		}
	}
	return nil
}

// metric is one row of the comparison: how to read a figure from a result
// and how to show it. Ratios divide stock's figure by Spillway's, so more
// than 1 means Spillway does better, for costs and latencies alike.
type metric struct {
	name  string
	get   func(*Result) (float64, bool)
	show  func(float64) string
	ratio bool
}

func syncFigure(f func(*SyncResult) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.Sync == nil {
			return 0, false
		}
		return f(r.Sync), true
	}
}

func changeFigure(f func(*ChangesResult) time.Duration) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.Changes == nil {
			return 0, false
		}
		return float64(f(r.Changes)), true
	}
}

func sustainedFigure(f func(*SustainedResult) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.Sustained == nil {
			return 0, false
		}
		return f(r.Sustained), true
	}
}

// windowLag reads a window's median lag, absent when no change was
// scheduled in the window.
func windowLag(f func(*SustainedResult) (time.Duration, int)) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if r.Sustained == nil {
			return 0, false
		}
		lag, n := f(r.Sustained)
		return float64(lag), n > 0
	}
}

func showDuration(v float64) string { return showLatency(time.Duration(v)) }

// showLatency rounds d for reading and names a change never ACKed.
func showLatency(d time.Duration) string {
	switch {
	case d == Missing:
		return "not ACKed"
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
}

func showBytes(v float64) string {
	switch {
	case v >= 1<<20 || v <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10 || v <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

func showCores(v float64) string { return fmt.Sprintf("%.2f", v) }

func showCount(v float64) string { return fmt.Sprintf("%.0f", v) }

// metrics are the rows of the comparison, in order.
func metrics() []metric {
	return append(syncMetrics(), changeMetrics()...)
}

// syncMetrics are the rows of the connect storm.
func syncMetrics() []metric {
	row := func(name string, get func(*SyncResult) float64, show func(float64) string) metric {
		return metric{name, syncFigure(get), show, true}
	}
	dur := func(d time.Duration) float64 { return float64(d) }
	return []metric{
		row("connect storm: all streams synced",
			func(s *SyncResult) float64 { return dur(s.Duration) }, showDuration),
		row("server CPU during the storm",
			func(s *SyncResult) float64 { return dur(s.ServerCPU) }, showDuration),
		row("clients' CPU during the storm",
			func(s *SyncResult) float64 { return dur(s.ClientCPU) }, showDuration),
		row("server heap (HeapInuse) per stream",
			func(s *SyncResult) float64 { return s.HeapPerStream }, showBytes),
		row("server heap per subscribed resource",
			func(s *SyncResult) float64 { return s.HeapPerResource }, showBytes),
		row("server live heap per stream",
			func(s *SyncResult) float64 { return s.LivePerStream }, showBytes),
		row("server RSS per stream",
			func(s *SyncResult) float64 { return s.RSSPerStream }, showBytes),
	}
}

// changeMetrics are the rows of the changes applied one at a time.
func changeMetrics() []metric {
	row := func(name string, get func(*ChangesResult) time.Duration) metric {
		return metric{name, changeFigure(get), showDuration, true}
	}
	return []metric{
		row("change → first ACK, p50", func(c *ChangesResult) time.Duration { return c.FirstAck.P50 }),
		row("change → last ACK, p50", func(c *ChangesResult) time.Duration { return c.Latency.P50 }),
		row("change → last ACK, p90", func(c *ChangesResult) time.Duration { return c.Latency.P90 }),
		row("change → last ACK, p99", func(c *ChangesResult) time.Duration { return c.Latency.P99 }),
		row("server publish (Set / SetSnapshot), p50",
			func(c *ChangesResult) time.Duration { return c.Apply.P50 }),
		row("server CPU per change", func(c *ChangesResult) time.Duration { return c.ServerCPU }),
		row("clients' CPU per change", func(c *ChangesResult) time.Duration { return c.ClientCPU }),
	}
}

// sustainedMetrics are the rows of the sustained phase.
func sustainedMetrics() []metric {
	row := func(name string, get func(*SustainedResult) float64, show func(float64) string,
		ratio bool) metric {
		return metric{name, sustainedFigure(get), show, ratio}
	}
	lat := func(name string, get func(*SustainedResult) time.Duration) metric {
		return row(name, func(s *SustainedResult) float64 { return float64(get(s)) },
			showDuration, true)
	}
	return []metric{
		row("sustained: changes issued",
			func(s *SustainedResult) float64 { return float64(s.Issued) }, showCount, false),
		row("sustained: changes ACKed by all",
			func(s *SustainedResult) float64 { return float64(s.Acked) }, showCount, false),
		lat("sustained: due → last ACK, p50",
			func(s *SustainedResult) time.Duration { return s.Latency.P50 }),
		lat("sustained: due → last ACK, p99",
			func(s *SustainedResult) time.Duration { return s.Latency.P99 }),
		row("sustained: publishes",
			func(s *SustainedResult) float64 { return float64(s.Publishes) }, showCount, false),
		{"sustained: median lag, first window", windowLag(func(s *SustainedResult) (
			time.Duration, int) {
			return s.FirstLag, s.FirstN
		}), showDuration, false},
		{"sustained: median lag, last window", windowLag(func(s *SustainedResult) (
			time.Duration, int) {
			return s.LastLag, s.LastN
		}), showDuration, false},
		row("sustained: backlog",
			func(s *SustainedResult) float64 { return float64(boolRank(s.Growing)) }, showBacklog, false),
		row("sustained: server CPU, cores",
			func(s *SustainedResult) float64 { return s.ServerCores }, showCores, true),
		row("sustained: clients' CPU, cores",
			func(s *SustainedResult) float64 { return s.ClientCores }, showCores, true),
	}
}

func showBacklog(v float64) string {
	if v != 0 {
		return "growing"
	}
	return "stable"
}

// table lays out one mode's comparison: a header and rows of cells.
func (r *Report) table(mode string) ([]string, [][]string) {
	impls := orderImpls(r.Config.Impls)
	header := append([]string{"figure"}, impls...)
	sp, st := r.result(loadserver.ImplSpillway, mode), r.result(loadserver.ImplStock, mode)
	withRatio := sp != nil && st != nil
	if withRatio {
		header = append(header, "stock / spillway")
	}
	ms := metrics()
	if r.Config.Duration > 0 {
		ms = append(ms, sustainedMetrics()...)
	}
	var rows [][]string
	for _, m := range ms {
		row := []string{m.name}
		for _, impl := range impls {
			row = append(row, cell(m, r.result(impl, mode)))
		}
		if withRatio {
			row = append(row, ratio(m, sp, st))
		}
		rows = append(rows, row)
	}
	return header, rows
}

func cell(m metric, res *Result) string {
	if res == nil {
		return "–"
	}
	v, ok := m.get(res)
	if !ok {
		return "–"
	}
	return m.show(v)
}

func ratio(m metric, sp, st *Result) string {
	if !m.ratio {
		return ""
	}
	a, okA := m.get(sp)
	b, okB := m.get(st)
	if !okA || !okB || a <= 0 || b <= 0 || a == float64(Missing) || b == float64(Missing) {
		return "–"
	}
	return fmt.Sprintf("%.1f×", b/a)
}

// WriteText writes the comparison of every mode, the targets and any
// run's error, for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, mode := range r.Config.Modes {
		fmt.Fprintf(&b, "\n== %s: %s\n", mode, r.shape())
		header, rows := r.table(mode)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
		for _, row := range rows {
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		_ = tw.Flush()
		r.writeTargetsText(&b, mode)
		for _, res := range r.Results {
			if res.Mode == mode && res.Err != "" {
				fmt.Fprintf(&b, "%s stopped early: %s\n", res.Impl, res.Err)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeTargetsText(b *strings.Builder, mode string) {
	targets := r.Targets(mode)
	if len(targets) == 0 {
		return
	}
	b.WriteString("\nSpillway's targets:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, t := range targets {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, t.verdict())
	}
	_ = tw.Flush()
}

// shape describes the load of the run in one line.
func (r *Report) shape() string {
	c := r.Config
	per := 0
	for _, res := range r.Results {
		per = max(per, res.PerClient)
	}
	return fmt.Sprintf("%d streams (%d per gRPC connection), %d pools × %d endpoints, "+
		"%d resources per stream", c.Streams, c.StreamsPerConn, c.Fleet.Pools, c.Fleet.Endpoints, per)
}
