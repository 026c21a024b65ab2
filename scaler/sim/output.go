package sim

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the runs side by side: what users waited, what the
// replicas cost, and how often the count changed.
func (c Comparison) WriteTable(w io.Writer) error {
	m := c.Model
	fmt.Fprintf(w, "trace %s: %d requests over %s\n", c.Trace, c.Requests, fmtDur(c.Duration))
	fmt.Fprintf(w, "model: %d slots per instance, cold start %s, %s, %s\n",
		m.Slots, fmtDur(m.ColdStart), slowStartText(m), warmText(m))
	fmt.Fprintf(w, "pool: min %d, max %d; queue-wait target %s\n\n",
		c.Policy.Min, c.Policy.Max, fmtDur(m.WaitTarget))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	static := c.Reports[len(c.Reports)-1].ReplicaHours
	rows := []struct {
		label string
		cell  func(*Report) string
	}{
		{"", func(r *Report) string { return r.Name }},
		{"within " + fmtDur(m.WaitTarget), func(r *Report) string {
			return fmt.Sprintf("%.2f%%", 100*r.WithinTarget)
		}},
		{"wait p50", func(r *Report) string { return fmtDur(r.WaitP50) }},
		{"wait p95", func(r *Report) string { return fmtDur(r.WaitP95) }},
		{"wait p99", func(r *Report) string { return fmtDur(r.WaitP99) }},
		{"wait max", func(r *Report) string { return fmtDur(r.WaitMax) }},
		{"replica-hours", func(r *Report) string { return fmt.Sprintf("%.1f", r.ReplicaHours) }},
		{"  of static", func(r *Report) string {
			return fmt.Sprintf("%.0f%%", 100*r.ReplicaHours/static)
		}},
		{"warm-pool hours", func(r *Report) string { return fmt.Sprintf("%.1f", r.WarmHours) }},
		{"peak replicas", func(r *Report) string { return strconv.Itoa(r.PeakReplicas) }},
		{"scale events", func(r *Report) string { return strconv.Itoa(r.ScaleEvents()) }},
		{"never served", func(r *Report) string { return strconv.Itoa(r.Unserved) }},
	}
	for _, row := range rows {
		cells := []string{row.label}
		for _, r := range c.Reports {
			cells = append(cells, row.cell(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

func slowStartText(m Model) string {
	if m.SlowStart <= 0 {
		return "no slow start"
	}
	return fmt.Sprintf("slow start %s from %.0f%%", fmtDur(m.SlowStart), 100*m.SlowStartMin)
}

func warmText(m Model) string {
	if m.WarmPool <= 0 {
		return "no warm pool"
	}
	return fmt.Sprintf("warm pool %d ready in %s", m.WarmPool, fmtDur(m.WarmStart))
}

// WriteTimeline writes every run's pool every 5 s as CSV, one row per run
// and moment, for plotting.
func (c Comparison) WriteTimeline(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"policy", "time_s", "ready", "starting", "draining", "queue", "active", "p95_s"}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	for _, r := range c.Reports {
		for _, p := range r.Timeline {
			row := []string{r.Name, strconv.FormatFloat(p.At.Seconds(), 'f', -1, 64),
				strconv.Itoa(p.Ready), strconv.Itoa(p.Starting), strconv.Itoa(p.Draining),
				strconv.Itoa(p.Queue), strconv.Itoa(p.Active),
				strconv.FormatFloat(p.P95.Seconds(), 'f', 1, 64)}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("writing timeline: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing timeline: %w", err)
	}
	return nil
}

// fmtDur prints a duration for people: 0s, 350ms, 1.2s, 4m10s, 1h5m.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
