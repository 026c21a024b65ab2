package driver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spillway/spillway/internal/bench/loadclient"
	"github.com/spillway/spillway/internal/bench/loadserver"
	"github.com/spillway/spillway/internal/bench/procstat"
)

// runner measures one implementation in one mode.
type runner struct {
	cfg        *Config
	impl, mode string
	res        *Result
	srv        *serverProc
	cl         *clientsProc
	seq        int64 // last change applied
	watched    int64 // last change the clients were asked to watch
}

// runOne runs the phases of one implementation and mode.
func runOne(ctx context.Context, cfg *Config, impl, mode string) *Result {
	r := &runner{cfg: cfg, impl: impl, mode: mode, res: &Result{Impl: impl, Mode: mode}}
	if err := r.run(ctx); err != nil {
		r.res.Err = err.Error()
	}
	return r.res
}

func (r *runner) run(ctx context.Context) (err error) {
	if r.srv, err = startServer(ctx, r.cfg, r.impl, r.profilePrefix()); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.srv.stop()) }()
	r.res.PerClient = r.srv.ready.PerClient
	r.progress("server listening on %s", r.srv.ready.XDS)

	before, err := r.srv.usage(true)
	if err != nil {
		return err
	}
	if err := r.profile("sync"); err != nil {
		return err
	}
	if r.cl, err = startClients(ctx, r.cfg, r.srv.ready.XDS, r.mode); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, r.cl.stop()) }()

	if err := r.syncPhase(before); err != nil {
		return err
	}
	if err := r.changesPhase(); err != nil {
		return err
	}
	if err := r.sustainedPhase(); err != nil {
		return err
	}
	return r.profile("")
}

func (r *runner) progress(format string, args ...any) {
	progress(r.cfg, "%s %s: "+format, append([]any{r.mode, r.impl}, args...)...)
}

func (r *runner) profilePrefix() string {
	if r.cfg.CPUProfileDir == "" {
		return ""
	}
	return filepath.Join(r.cfg.CPUProfileDir, r.impl+"-"+r.mode)
}

func (r *runner) profile(phase string) error {
	if r.cfg.CPUProfileDir == "" {
		return nil
	}
	return r.srv.profile(phase)
}

// syncPhase waits for the connect storm to settle and reads what the
// streams cost the server.
func (r *runner) syncPhase(before procstat.Usage) error {
	started, err := r.cl.next(loadclient.EventStarted, commandTimeout)
	if err != nil {
		return err
	}
	synced, err := r.cl.next(loadclient.EventSynced, r.cfg.SyncTimeout)
	if err != nil {
		if st, serr := r.cl.status(); serr == nil {
			err = fmt.Errorf("%w (%d of %d streams open, %d synced)", err,
				st.Streams, r.cfg.Streams, st.Synced)
		}
		return err
	}
	clientCPU, err := r.cl.usage()
	if err != nil {
		return err
	}
	after, err := r.srv.usage(true)
	if err != nil {
		return err
	}
	n := r.cfg.Streams
	s := &SyncResult{
		Duration:   time.Duration(synced.UnixNano - started.UnixNano),
		HeapBefore: before.HeapInuse, HeapAfter: after.HeapInuse,
		LiveBefore: before.HeapLive, LiveAfter: after.HeapLive,
		RSSBefore: before.RSS, RSSAfter: after.RSS, ServerCPU: after.CPU - before.CPU,
		ClientCPU:     clientCPU,
		HeapPerStream: perUnit(after.HeapInuse, before.HeapInuse, n),
		LivePerStream: perUnit(after.HeapLive, before.HeapLive, n),
		RSSPerStream:  perUnit(after.RSS, before.RSS, n),
	}
	if r.res.PerClient > 0 {
		s.HeapPerResource = s.HeapPerStream / float64(r.res.PerClient)
	}
	r.res.Sync = s
	r.progress("%d streams synced in %v, heap %.1f KiB per stream", n,
		s.Duration.Round(time.Millisecond), s.HeapPerStream/1024)
	return nil
}

// change applies the next change once the clients watch for it, and
// returns its number and when the server started and finished applying it.
func (r *runner) change() (int64, loadserver.Applied, error) {
	r.seq++
	if err := r.watchThrough(r.seq, r.seq); err != nil {
		return r.seq, loadserver.Applied{}, err
	}
	a, err := r.srv.change(r.seq)
	return r.seq, a, err
}

// watchThrough has the clients watch every change up to ahead, and waits
// until they watch those up to seq.
func (r *runner) watchThrough(seq, ahead int64) error {
	for ; r.watched < ahead; r.watched++ {
		next := r.watched + 1
		if err := r.cl.watch(next, r.cfg.Fleet.ChangeOf(next).Cluster()); err != nil {
			return err
		}
	}
	return r.cl.watching(seq)
}
