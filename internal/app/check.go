package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/discovery/file"
	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/xds/cache"
	"github.com/spillway/spillway/xds/translate"
)

// Check loads and validates the config at path, translates it against an
// empty catalog so that every resource it implies is validated too, and
// writes a one-line summary to stdout, or the error lines to stderr. It
// returns the process exit code: 0 when valid, 1 when not.
func Check(path string, stdout, stderr io.Writer) int {
	cfg, err := policy.Load(path)
	if err == nil {
		_, err = translate.Translate(cfg, discovery.NewCatalog(nil))
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: %s\n", path, cfg.Summary())
	return 0
}

// Render translates the config at path against one catalog from its
// discovery source and writes the resources an Envoy would receive as one
// JSON object, in the shape /debug/resources serves.
func Render(ctx context.Context, path string, log *slog.Logger, stdout io.Writer) error {
	cfg, err := policy.Load(path)
	if err != nil {
		return err
	}
	cat, err := firstCatalog(ctx, cfg, log)
	if err != nil {
		return err
	}
	res, err := translate.Translate(cfg, cat)
	if err != nil {
		return err
	}
	version, err := cache.New(log, nil).Set(cacheResources(res))
	if err != nil {
		return err
	}
	body, err := res.Render(version)
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(body, '\n'))
	return err
}

// firstCatalog reads one whole catalog from cfg's source: the file at
// once, or Consul's first complete answer within 15 s.
func firstCatalog(ctx context.Context, cfg *policy.Config, log *slog.Logger) (*discovery.Catalog, error) {
	if f := cfg.Discovery.File; f != nil {
		return file.Load(cfg.Resolve(f.Path))
	}
	src, err := newSource(cfg, log, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out := make(chan *discovery.Catalog, 1)
	go func() { _ = src.Run(ctx, out) }()
	select {
	case cat := <-out:
		return cat, nil
	case <-ctx.Done():
		return nil, errors.New("reading the catalog: no complete answer from Consul within 15s")
	}
}
