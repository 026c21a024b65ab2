// Package admin serves Spillway's admin HTTP endpoints: liveness,
// readiness, Prometheus metrics, the published resources and, when asked,
// pprof.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness condition: its name and an error while it is not
// met. Details are shown on /readyz. An Advisory check is reported but does
// not make the server unready: a lost discovery backend, for instance, is
// worth telling while the last good configuration keeps being served.
type Check struct {
	Name     string
	Func     func() error
	Advisory bool
}

// Options configure the admin server.
type Options struct {
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	// Ready lists the conditions /readyz requires.
	Ready []Check
	// Resources writes the JSON of /debug/resources; nil leaves it out.
	Resources func() ([]byte, error)
	// Pprof mounts /debug/pprof/.
	Pprof bool
}

// Server is the admin HTTP server.
type Server struct {
	http *http.Server
	log  *slog.Logger
}

// New builds the admin server's routes.
func New(opts Options, log *slog.Logger) *Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", readyHandler(opts.Ready))
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	if opts.Resources != nil {
		mux.HandleFunc("GET /debug/resources", resourcesHandler(opts.Resources))
	}
	if opts.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return &Server{
		http: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		log:  log,
	}
}

// Serve serves on lis until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve(lis net.Listener) error {
	s.log.Info("admin server listening", "addr", lis.Addr().String())
	if err := s.http.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting requests and waits for those in flight until
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"`
}

func readyHandler(checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		r := readiness{Ready: true, Checks: make(map[string]string, len(checks))}
		for _, c := range checks {
			if err := c.Func(); err != nil {
				r.Ready = r.Ready && c.Advisory
				r.Checks[c.Name] = err.Error()
				continue
			}
			r.Checks[c.Name] = "ok"
		}
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(r)
	}
}

func resourcesHandler(render func() ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		body, err := render()
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}
