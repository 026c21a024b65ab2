package demo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// headerEvery repeats the table's header, so that it stays in sight.
const headerEvery = 20

const header = " time  phase     ready start drain  in-flight  queue     p95" +
	"      ok  failed  decision"

// signalNote says where the scaler's signal comes from, in the intro,
// because it is what production does differently; the summary repeats it
// briefly.
const signalNote = "signal: queue = the model servers' own waiting+running gauges, " +
	"p95 = the client's latencies;\n        in production the scaler reads both from Envoy's stats."

// printer writes the demo's output: the intro, progress notes and a
// status line per tick (all left out when quiet), then the summary and
// where to go next.
type printer struct {
	w     io.Writer
	quiet bool
	start time.Time
	lines int
}

// intro describes what runs where.
type intro struct {
	dir, config, xds, admin string
	instances               int
	envoy, consul           string
	timing                  Timing
}

func (p *printer) intro(in intro) {
	if p.quiet {
		return
	}
	fmt.Fprintf(p.w, "spillway demo: Spillway, %d model servers and a gRPC client in one process.\n",
		in.instances)
	fmt.Fprintf(p.w, "  config    %s (the catalog is %s beside it)\n", in.config, catalogFile)
	fmt.Fprintf(p.w, "  xds       %s: the client dials xds:///%s through it\n", in.xds, poolName)
	fmt.Fprintf(p.w, "  admin     http://%s/debug/resources shows what Spillway publishes\n", in.admin)
	fmt.Fprintf(p.w, "  envoy     %s\n", in.envoy)
	fmt.Fprintf(p.w, "  consul    %s\n", in.consul)
	fmt.Fprintf(p.w, "  schedule  %s, repeating\n", schedule(in.timing))
	fmt.Fprintf(p.w, "  %s\n", signalNote)
	fmt.Fprintln(p.w, "  columns: ready = serving at full share; start = warming up or in its "+
		"slow-start window;\n           drain = in maintenance until it has no request, then stopped.")
	fmt.Fprintln(p.w, "  Ctrl-C stops the demo gracefully.")
	fmt.Fprintln(p.w)
}

// note writes one line of progress, unless quiet.
func (p *printer) note(format string, args ...any) {
	if !p.quiet {
		fmt.Fprintf(p.w, format+"\n", args...)
	}
}

// schedule describes the phases: "baseline 6/s for 30s, spike 60/s ...".
func schedule(t Timing) string {
	parts := make([]string, 0, len(t.Phases))
	for _, ph := range t.Phases {
		parts = append(parts, fmt.Sprintf("%s %s/s for %s", ph.Name, rate(ph.Rate), ph.Length))
	}
	return strings.Join(parts, ", ")
}

func rate(r float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", r), "0"), ".")
}

// tick writes one status line, with the header when it is due.
func (p *printer) tick(t tick) {
	if p.quiet {
		return
	}
	if p.lines%headerEvery == 0 {
		fmt.Fprintln(p.w, header)
	}
	p.lines++
	el := t.at.Sub(p.start).Round(time.Second)
	fmt.Fprintf(p.w, "%2d:%02d  %-8s %5d %5d %5d  %9d %6.0f %7s %7d %7d  %s\n",
		int(el.Minutes()), int(el.Seconds())%60, t.phase, t.ready, t.starting, t.draining,
		t.inFlight, t.sig.Demand(), p95(t), t.ok, t.failed, decision(t))
}

func p95(t tick) string {
	if t.sig.Samples == 0 {
		return "-"
	}
	d := t.sig.P95
	if d >= time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// decision is "up 2→6: reason", "down 6→4: reason" or "hold 2: reason".
func decision(t tick) string {
	d := t.decision
	var s string
	switch dir := d.Direction(); dir {
	case "hold":
		s = fmt.Sprintf("hold %d: %s", d.Current, d.Reason)
	default:
		s = fmt.Sprintf("%s %d→%d: %s", dir, d.Current, d.Desired, d.Reason)
	}
	if d.Panic {
		s += " [panic mode]"
	}
	return s
}

// summary writes the totals of the run.
func (p *printer) summary(s Summary) {
	fmt.Fprintln(p.w)
	fmt.Fprintf(p.w, "summary after %s: %d requests ok", s.Elapsed.Round(time.Second), s.OK)
	if s.ViaEnvoy > 0 {
		fmt.Fprintf(p.w, " (%d through Envoy)", s.ViaEnvoy)
	}
	fmt.Fprintf(p.w, ", %d failed%s, %d shed by the client's limit of %d in flight\n",
		s.Failed, byCode(s.FailedByCode), s.Shed, maxInFlight)
	fmt.Fprintf(p.w, "  scaler: %d scale-ups, %d scale-downs, at most %d replicas, on the signal "+
		"of the model servers and the client (of Envoy's stats in production)\n",
		s.ScaleUps, s.ScaleDowns, s.MostReplicas)
}

func byCode(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	parts := make([]string, 0, len(m))
	for _, code := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", code, m[code]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// stopped tells how the shutdown went.
func (p *printer) stopped(dir string, err error) {
	if err != nil {
		fmt.Fprintf(p.w, "  shutdown: %v\n", err)
		return
	}
	fmt.Fprintf(p.w, "  stopped cleanly: every server drained, Spillway stopped, %s removed\n", dir)
}

// nextSteps points at what to read and run after the demo.
func (p *printer) nextSteps() {
	fmt.Fprint(p.w, `
Where to go next:
  README.md            Quickstart, Concepts and Commands: run Spillway for your own fleet
  examples/quickstart.yaml, examples/catalog.yaml
                       the config and catalog of "spillway serve --config examples/quickstart.yaml"
  envoy-configs/       Envoy bootstraps that point Envoy at Spillway over ADS (demo.yaml first)
  docs/                every config field (config.md), the scaler (scaler.md), Consul (consul.md)
`)
}
