package loadserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"

	"github.com/spillway/spillway/internal/bench/procstat"
)

// newControl returns the driver's endpoint:
//
//	POST /change?seq=N    apply change N; answers Applied once published
//	  &queue=1&count=M    queue changes N..N+M-1 for the publishing goroutine
//	GET  /publishes       how many publishes carried how many changes
//	GET  /usage[?gc=1]    CPU time, heap and RSS; gc=1 collects first
//	POST /profile?phase=P start CPU profile phase P; no phase stops
//	POST /quit            stop the server
//	GET  /debug/pprof/    the Go profiles, for a heap profile after sync
func newControl(st *state, prof *profiler, quit func()) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
	mux.HandleFunc("POST /change", func(w http.ResponseWriter, r *http.Request) {
		seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
		if err != nil {
			http.Error(w, fmt.Sprintf("seq: %v", err), http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("queue") == "1" {
			count, err := strconv.ParseInt(r.URL.Query().Get("count"), 10, 64)
			if err != nil || count < 1 {
				http.Error(w, fmt.Sprintf("count: %q is not a positive number",
					r.URL.Query().Get("count")), http.StatusBadRequest)
				return
			}
			reply[Applied](w)(st.enqueue(seq, count))
			return
		}
		reply[Applied](w)(st.change(seq))
	})
	mux.HandleFunc("GET /publishes", func(w http.ResponseWriter, _ *http.Request) {
		reply[Publishes](w)(st.publishes(), nil)
	})
	mux.HandleFunc("GET /usage", func(w http.ResponseWriter, r *http.Request) {
		reply[procstat.Usage](w)(procstat.Read(r.URL.Query().Get("gc") == "1"))
	})
	mux.HandleFunc("POST /profile", func(w http.ResponseWriter, r *http.Request) {
		reply[string](w)(prof.start(r.URL.Query().Get("phase")))
	})
	mux.HandleFunc("POST /quit", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		quit()
	})
	return mux
}

// reply answers with v as JSON, or with err.
func reply[T any](w http.ResponseWriter) func(T, error) {
	return func(v T, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
}

// profiler writes one CPU profile per phase of a run.
type profiler struct {
	prefix string

	mu   sync.Mutex
	file *os.File
}

// start ends the current phase's profile and begins phase's, returning
// its file name; without a prefix or a phase it only ends the current one.
func (p *profiler) start(phase string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.stopLocked(); err != nil {
		return "", err
	}
	if p.prefix == "" || phase == "" {
		return "", nil
	}
	name := fmt.Sprintf("%s-%s.pprof", p.prefix, phase)
	f, err := os.Create(name)
	if err != nil {
		return "", fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("starting CPU profile: %w", err)
	}
	p.file = f
	return name, nil
}

func (p *profiler) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopLocked()
}

func (p *profiler) stopLocked() error {
	if p.file == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.file.Close()
	p.file = nil
	if err != nil {
		return fmt.Errorf("writing CPU profile: %w", err)
	}
	return nil
}
