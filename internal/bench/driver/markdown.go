package driver

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteMarkdown writes the report as the repository's docs/BENCHMARKS.md: how
// it was run, on what, the figures of every mode side by side, and each of
// Spillway's targets with its measured value and whether it was met.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	r.writeIntro(&b)
	for _, mode := range r.Config.Modes {
		fmt.Fprintf(&b, "\n## %s\n\n", modeTitle(mode))
		r.writeTargets(&b, mode)
		header, rows := r.table(mode)
		writeMarkdownTable(&b, header, rows)
		for _, res := range r.Results {
			if res.Mode == mode && res.Err != "" {
				fmt.Fprintf(&b, "\n%s stopped early: `%s`\n", res.Impl, res.Err)
			}
		}
	}
	b.WriteString(method)
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeIntro(b *strings.Builder) {
	c, m := r.Config, r.Machine
	b.WriteString("# xDS benchmarks\n\n")
	b.WriteString("Spillway's ADS cache and server against go-control-plane's stock snapshot " +
		"cache and server, serving the same fleet to the same simulated Envoys.\n\n")
	fmt.Fprintf(b, "- Command: `%s`\n", c.Command)
	fmt.Fprintf(b, "- Date: %s (took %v)\n", r.Started.Format(time.RFC3339),
		r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(b, "- Machine: %d CPUs (nproc), %s, %s; %s\n", m.CPUs, m.CPUModel, m.OS, m.GoVersion)
	if r.LoadBefore != "" {
		fmt.Fprintf(b, "- Load average (1 min) at the start and the end: %s, %s\n",
			r.LoadBefore, r.LoadAfter)
	}
	fmt.Fprintf(b, "- Load: %s; %d changes one at a time", r.shape(), c.Changes)
	if c.Duration > 0 {
		fmt.Fprintf(b, "; then %g changes/s for %v", c.Rate, c.Duration)
	}
	b.WriteString("\n")
}

func modeTitle(mode string) string {
	switch mode {
	case "sotw":
		return "State of the world (sotw)"
	case "delta":
		return "Incremental (delta)"
	}
	return mode
}

func (r *Report) writeTargets(b *strings.Builder, mode string) {
	targets := r.Targets(mode)
	if len(targets) == 0 {
		return
	}
	writeMarkdownTable(b, []string{"target", "wanted", "measured", "verdict"}, func() [][]string {
		var rows [][]string
		for _, t := range targets {
			rows = append(rows, []string{t.Name, t.Want, t.Got, t.verdict()})
		}
		return rows
	}())
	b.WriteString("\n")
}

func writeMarkdownTable(b *strings.Builder, header []string, rows [][]string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(header)) + "\n")
	for _, row := range rows {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
}

// method explains how the figures are taken, so that the document stands
// on its own.
const method = `
## How it is measured

- ` + "`xdsload run`" + ` starts a server process and a clients process for each
  implementation and mode, one pair at a time, all on 127.0.0.1. Both
  servers serve the fleet that Spillway's translator builds from a policy
  of HTTP pools (EDS clusters with least-request balancing, GPU-class
  weights, slow start, an active health check, circuit breakers and
  outlier detection; load assignments of three zones; listeners with one
  route per pool, through RDS).
- Spillway runs its own cache and server. Stock runs go-control-plane
  v0.14.0's ` + "`NewSnapshotCache(false, IDHash{}, nil)`" + ` and ` + "`NewServer`" + `: every
  node gets the same snapshot, set when the node's first request arrives
  and again for every node on each change. Its snapshots keep one version
  per resource type, so a change of endpoints re-sends endpoints only.
- Each client stream is its own node and subscribes like Envoy: clusters
  and listeners by wildcard, then load assignments by the clusters' names
  and route configurations by the names in the listeners, ACKing every
  response. State-of-the-world ACKs repeat the full list of names, as
  Envoy's do. Streams share gRPC connections (the number per connection is
  in the load line above).
- Connect storm: every stream opens at once; the figure runs from then to
  the last stream's ACK of its whole subscription.
- Heap per stream: the server's HeapInuse after two garbage collections
  (the second frees gRPC's pooled send buffers, which belong to no
  stream) once all streams have synced, minus the same before any
  connected, divided by the streams; per subscribed resource divides that by the resources a
  stream subscribes to. RSS is VmRSS, likewise.
- A change replaces one endpoint of one pool with a new address. The
  latency runs from the server starting to publish it to the moment the
  last stream has sent its ACK of the load assignment that carries it.
  Changes go one at a time, each after the previous one is ACKed
  everywhere. CPU is user plus system time from getrusage.
- Sustained: changes are due at a steady rate for the duration; each is
  applied when due, or at once if the server is still busy with earlier
  ones, and none after the duration ends. Latency runs from when a change
  was due to its last ACK. The backlog counts as growing when changes are
  left un-issued (under 95 %) or un-ACKed, or when the median lag of the
  last window exceeds twice that of the first plus 100 ms.
- Clients and server share the machine's cores, so the clients' own CPU,
  shown per change, slows the server too; that weighs most on the stock
  server, whose state-of-the-world responses carry every load assignment.
`
