package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Limits of /stream's query parameters.
const (
	defaultTokens   = 16
	maxTokens       = 10000
	defaultInterval = 250 * time.Millisecond
	maxInterval     = time.Minute
	maxBody         = 1 << 20 // read and discarded, as a real server would parse it
)

// Handler serves the instance's endpoints:
//
//	GET|POST /predict      one request: JSON {instance, gpu, queue_ms, service_ms}
//	GET|POST /stream       Server-Sent Events "data: token N", then "data: [DONE]";
//	                       ?tokens=N (default 16) &interval=DURATION (default 250ms)
//	GET /health            liveness: 200 while the process runs
//	GET /health/ready      readiness: 200, or 503 while warming up, draining or
//	                       with more than MaxQueue requests waiting
//	GET /metrics           Prometheus text format
//
// With Options.GRPC it also answers gRPC requests, which arrive over
// HTTP/2 with a content type of application/grpc.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	predict := s.admit(http.HandlerFunc(s.handlePredict), refuse)
	stream := s.admit(http.HandlerFunc(s.handleStream), refuse)
	mux.Handle("GET /predict", predict)
	mux.Handle("POST /predict", predict)
	mux.Handle("GET /stream", stream)
	mux.Handle("POST /stream", stream)
	mux.HandleFunc("GET /health", handleLive)
	mux.HandleFunc("GET /health/ready", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	if s.grpc == nil {
		return mux
	}
	calls := s.admit(s.grpc, refuseGRPC)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc"):
			mux.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/"+healthService+"/"):
			// Health answers while draining, and its watches are no work
			// for a drain to wait for.
			s.grpc.ServeHTTP(w, r)
		default:
			calls.ServeHTTP(w, r)
		}
	})
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	discardBody(r)
	res, err := s.predict(r.Context())
	if err != nil {
		refuse(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handleStream holds a slot for the whole stream, as a generating model
// does. Once the headers are out, a failure can only end the stream.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	discardBody(r)
	tokens, interval, err := streamParams(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	started := false
	_, err = s.serve(r.Context(), func(ctx context.Context, res Result) error {
		started = true
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Instance", res.Instance)
		h.Set("X-Queue-Ms", strconv.FormatFloat(res.QueueMS, 'f', -1, 64))
		w.WriteHeader(http.StatusOK)
		return emitTokens(ctx, w, tokens, interval)
	})
	if err != nil && !started {
		refuse(w, err)
	}
}

// emitTokens writes one event per token, each after interval, then the
// end marker that OpenAI-style clients wait for.
func emitTokens(
	ctx context.Context, w http.ResponseWriter, tokens int, interval time.Duration,
) error {
	rc := http.NewResponseController(w)
	send := func(data string) error {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		if err := rc.Flush(); err != nil {
			return fmt.Errorf("%w: %w", errClientGone, err)
		}
		return nil
	}
	for i := 1; i <= tokens; i++ {
		if err := sleep(ctx, interval); err != nil {
			return err
		}
		if err := send("token " + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	return send("[DONE]")
}

// streamParams reads ?tokens= and ?interval=, with their defaults.
func streamParams(q url.Values) (int, time.Duration, error) {
	tokens, interval := defaultTokens, defaultInterval
	if v := q.Get("tokens"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTokens {
			return 0, 0, fmt.Errorf("tokens=%q: want a whole number from 1 to %d", v, maxTokens)
		}
		tokens = n
	}
	if v := q.Get("interval"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxInterval {
			return 0, 0, fmt.Errorf("interval=%q: want a duration such as 250ms, at most %s",
				v, maxInterval)
		}
		interval = d
	}
	return tokens, interval, nil
}

func handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// readiness is the body of /health/ready, for people and scripts; a
// health checker needs only the status code.
type readiness struct {
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason"`
	Waiting int    `json:"waiting"`
	Running int    `json:"running"`
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	ready, reason := s.Ready()
	waiting, running := s.slots.counts()
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, readiness{Ready: ready, Reason: reason, Waiting: waiting, Running: running})
}

// refuse answers a request that serve did not complete. A client that went
// away gets nothing; a refused one gets 503 and a hint to come back.
func refuse(w http.ResponseWriter, err error) {
	code := statusCode(err)
	if code == 499 {
		return
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if errors.Is(err, ErrDraining) {
		// Make the client (Envoy) open its next connection elsewhere.
		w.Header().Set("Connection", "close")
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	// A write error means the client is gone; there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func discardBody(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
}
