// Package loadclient runs many ADS client streams that behave like Envoys,
// for the load harness: each has its own node ID, subscribes to clusters
// and listeners by wildcard and then to load assignments and route
// configurations by name, and ACKs every response. The driver talks to
// them over stdin and stdout with one JSON object a line.
package loadclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/spillway/spillway/internal/bench/procstat"
)

// The xDS variants a client speaks.
const (
	ModeSotW  = "sotw"
	ModeDelta = "delta"
)

// Flow-control windows as large as Envoy's defaults, so that a server
// writing to many streams of one connection is not throttled by a window
// that no Envoy would advertise.
const (
	streamWindow = 16 << 20
	connWindow   = 256 << 20
	maxRecvBytes = 1 << 30
)

// Options configure Run.
type Options struct {
	// Addr is the ADS server, host:port.
	Addr string
	// Streams is the number of ADS streams, each with its own node ID.
	Streams int
	// Mode is ModeSotW or ModeDelta.
	Mode string
	// StreamsPerConn is how many streams share one gRPC connection; 1
	// gives each stream its own, as separate Envoys would have.
	StreamsPerConn int
	// NodePrefix starts every node ID; the stream number follows it.
	NodePrefix string
	// In carries commands; Run returns when it ends.
	In io.Reader
	// Out receives events.
	Out io.Writer
	Log *slog.Logger
}

// Validate reports options Run cannot work with.
func (o Options) Validate() error {
	var errs []error
	if o.Addr == "" {
		errs = append(errs, errors.New("addr: empty"))
	}
	if o.Streams < 1 {
		errs = append(errs, fmt.Errorf("streams: %d is less than 1", o.Streams))
	}
	if o.Mode != ModeSotW && o.Mode != ModeDelta {
		errs = append(errs, fmt.Errorf("mode: %q is neither %q nor %q", o.Mode, ModeSotW, ModeDelta))
	}
	if o.StreamsPerConn < 1 {
		errs = append(errs, fmt.Errorf("streams per connection: %d is less than 1",
			o.StreamsPerConn))
	}
	return errors.Join(errs...)
}

// Run opens every stream at once and keeps them until In ends or a stream
// fails; a failure is also reported as an EventError.
func Run(ctx context.Context, opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("starting clients: %w", err)
	}
	conns, err := dial(opts)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := newEventWriter(opts.Out)
	r := &run{opts: opts, names: newInterner(), tracker: newTracker(opts.Streams, out),
		out: out, cancel: cancel}
	out.write(Event{Event: EventStarted, UnixNano: time.Now().UnixNano(), Streams: opts.Streams})
	var wg sync.WaitGroup
	for i := range opts.Streams {
		c := discovery.NewAggregatedDiscoveryServiceClient(conns[i/opts.StreamsPerConn])
		wg.Go(func() { r.stream(ctx, c, i) })
	}
	go func() {
		serveCommands(opts.In, r.tracker, out, opts.Log)
		cancel()
	}()
	<-ctx.Done()
	wg.Wait()
	return r.failed
}

// run is one Run's shared state.
type run struct {
	opts    Options
	names   *interner
	tracker *tracker
	out     *eventWriter
	cancel  context.CancelFunc

	once   sync.Once
	failed error
}

// stream runs stream i until ctx ends; any other end stops every stream.
func (r *run) stream(ctx context.Context, c discovery.AggregatedDiscoveryServiceClient, i int) {
	node := &corev3.Node{
		Id: fmt.Sprintf("%s-%05d", r.opts.NodePrefix, i), Cluster: "xdsload",
		UserAgentName: "xdsload",
	}
	sub := newSubscription(i, r.names, r.tracker)
	r.tracker.open.Add(1)
	defer r.tracker.open.Add(-1)
	run := runSotw
	if r.opts.Mode == ModeDelta {
		run = runDelta
	}
	err := run(ctx, c, node, sub)
	if ctx.Err() != nil {
		return
	}
	r.once.Do(func() {
		r.failed = fmt.Errorf("stream %s: %w", node.GetId(), err)
		r.out.write(Event{Event: EventError, Err: r.failed.Error()})
		r.cancel()
	})
}

// dial opens the connections the streams share.
func dial(opts Options) ([]*grpc.ClientConn, error) {
	n := (opts.Streams + opts.StreamsPerConn - 1) / opts.StreamsPerConn
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		cc, err := grpc.NewClient(opts.Addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(streamWindow),
			grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("dialing %s: %w", opts.Addr, err)
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, cc := range conns {
		_ = cc.Close()
	}
}

// serveCommands answers the driver's commands until in ends.
func serveCommands(in io.Reader, t *tracker, out *eventWriter, log *slog.Logger) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var cmd Command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			log.Warn("ignoring bad command", "line", sc.Text(), "err", err)
			continue
		}
		switch cmd.Cmd {
		case CmdWatch:
			t.watch(cmd.Seq, cmd.Cluster)
		case CmdStatus:
			out.write(t.status())
		case CmdUsage:
			cpu, err := procstat.CPUTime()
			ev := Event{Event: EventUsage, CPUNanos: int64(cpu)}
			if err != nil {
				ev.Err = err.Error()
			}
			out.write(ev)
		default:
			log.Warn("ignoring unknown command", "cmd", cmd.Cmd)
		}
	}
}
