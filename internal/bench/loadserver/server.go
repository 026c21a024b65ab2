// Package loadserver runs one ADS server of the load harness: Spillway's
// or go-control-plane's stock one, serving the same fleet, with a control
// endpoint on which the driver applies endpoint changes and reads CPU time
// and memory.
package loadserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spillway/spillway/internal/bench/fleet"
)

// stopTimeout bounds the graceful stop of both servers.
const stopTimeout = 10 * time.Second

// Options configure Run.
type Options struct {
	// Impl is ImplSpillway or ImplStock.
	Impl  string
	Fleet fleet.Spec
	// Addr is where ADS listens, and ControlAddr the control endpoint;
	// both default to a free port on 127.0.0.1.
	Addr        string
	ControlAddr string
	// CPUProfile, when set, is the prefix of the CPU profile files, one
	// per phase: <prefix>-<phase>.pprof. Phase "serve" starts at once and
	// lasts until the driver names another.
	CPUProfile string
	Log        *slog.Logger
	// Ready is called once both servers listen.
	Ready func(Ready)
}

// Ready tells the driver where the server listens and what it serves.
type Ready struct {
	XDS     string `json:"xds"`
	Control string `json:"control"`
	// PerClient is the number of resources each Envoy subscribes to.
	PerClient int `json:"per_client"`
}

// Run builds the fleet, serves it until ctx ends or the driver asks to
// quit, and then stops both servers.
func Run(ctx context.Context, opts Options) error {
	st, err := newState(opts)
	if err != nil {
		return err
	}
	xdsLis, ctlLis, err := listenBoth(opts)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	prof := &profiler{prefix: opts.CPUProfile}
	if _, err := prof.start("serve"); err != nil {
		_, _ = xdsLis.Close(), ctlLis.Close()
		return err
	}
	ctl := &http.Server{Handler: newControl(st, prof, cancel), ReadHeaderTimeout: 5 * time.Second}
	go st.publishQueued(ctx)
	errc := make(chan error, 2)
	go func() { errc <- st.backend.serve(xdsLis) }()
	go func() { errc <- ignoreClosed(ctl.Serve(ctlLis)) }()
	if opts.Ready != nil {
		opts.Ready(Ready{XDS: xdsLis.Addr().String(), Control: ctlLis.Addr().String(),
			PerClient: st.res.PerClient()})
	}

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	return errors.Join(err, shutdown(st, ctl, prof))
}

// shutdown stops profiling and both servers.
func shutdown(st *state, ctl *http.Server, prof *profiler) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	perr := prof.stop()
	st.backend.stop(ctx)
	return errors.Join(perr, ctl.Shutdown(ctx))
}

// listenBoth opens the ADS and the control listeners.
func listenBoth(opts Options) (xds, ctl net.Listener, err error) {
	if xds, err = listen(opts.Addr); err != nil {
		return nil, nil, err
	}
	if ctl, err = listen(opts.ControlAddr); err != nil {
		_ = xds.Close()
		return nil, nil, err
	}
	return xds, ctl, nil
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return lis, nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
