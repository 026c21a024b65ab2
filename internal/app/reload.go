package app

import (
	"context"
	"log/slog"

	"github.com/spillway/spillway/internal/filewatch"
	"github.com/spillway/spillway/policy"
)

// watchConfig reloads the config when its file changes or when reload
// fires. A config that does not load is rejected with the same error lines
// as `spillway check`, and the running config stays.
func watchConfig(ctx context.Context, path string, reload <-chan struct{}, p *pipeline,
	log *slog.Logger) error {
	load := func(data []byte, err error) {
		var cfg *policy.Config
		if err == nil {
			cfg, err = policy.Parse(path, data)
		}
		if err != nil {
			p.m.reloads.WithLabelValues("rejected").Inc()
			log.Error("config rejected; keeping the running config", "path", path, "err", err)
			return
		}
		p.reload(ctx, cfg)
	}

	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-reload:
				log.Info("reload requested", "path", path)
				cfg, err := policy.Load(path)
				if err != nil {
					load(nil, err)
					continue
				}
				p.reload(ctx, cfg)
			}
		}
	}()

	// The running config was loaded from the file's content just before, so
	// the watch's first call is not a change unless it is an error. A write
	// between that load and this first read is only seen with the next
	// change; Serve handing over the bytes it loaded would close that gap.
	first := true
	return filewatch.Watch(ctx, path, filewatch.Options{Log: log}, func(data []byte, err error) {
		skip := first && err == nil
		first = false
		if !skip {
			load(data, err)
		}
	})
}
