package driver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spillway/spillway/internal/bench/loadserver"
	"github.com/spillway/spillway/internal/bench/procstat"
)

// readyTimeout bounds how long a server may take to build the fleet and
// listen.
const readyTimeout = 2 * time.Minute

// serverProc is a running server role and its control endpoint.
type serverProc struct {
	*child
	ready loadserver.Ready
	http  *http.Client
}

// startServer starts the server of impl and waits until it listens.
func startServer(ctx context.Context, cfg *Config, impl, profile string) (*serverProc, error) {
	args := []string{"--impl", impl, "--pools", strconv.Itoa(cfg.Fleet.Pools),
		"--endpoints", strconv.Itoa(cfg.Fleet.Endpoints),
		"--listeners", strconv.Itoa(cfg.Fleet.Listeners), "--exit-on-eof"}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	c, err := startChild("server "+impl, cfg.Launch(ctx, RoleServer, args...), cfg.Stderr)
	if err != nil {
		return nil, err
	}
	s := &serverProc{child: c, http: &http.Client{Timeout: cfg.ChangeTimeout}}
	if err := s.readReady(); err != nil {
		_ = c.stop()
		return nil, err
	}
	return s, nil
}

// readReady reads the line in which the server tells where it listens.
func (s *serverProc) readReady() error {
	got := make(chan error, 1)
	go func() {
		line, err := s.stdout.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &s.ready)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("reading %s address: %w", s.name, err)
		}
		go func() { _, _ = io.Copy(io.Discard, s.stdout) }()
		return nil
	case <-s.done:
		return fmt.Errorf("%s exited before listening: %v", s.name, s.err)
	case <-time.After(readyTimeout):
		return fmt.Errorf("%s did not listen within %v", s.name, readyTimeout)
	}
}

// stop ends the server and the control connections to it.
func (s *serverProc) stop() error {
	defer s.http.CloseIdleConnections()
	return s.child.stop()
}

// change applies change seq and answers once it is published.
func (s *serverProc) change(seq int64) (loadserver.Applied, error) {
	var a loadserver.Applied
	err := s.call(http.MethodPost, "/change", url.Values{"seq": {strconv.FormatInt(seq, 10)}}, &a)
	return a, err
}

// enqueue queues changes seq to seq+count-1 for the server's publishing
// goroutine.
func (s *serverProc) enqueue(seq, count int64) error {
	var a loadserver.Applied
	return s.call(http.MethodPost, "/change", url.Values{"seq": {strconv.FormatInt(seq, 10)},
		"count": {strconv.FormatInt(count, 10)}, "queue": {"1"}}, &a)
}

// publishes reads how many publishes the server made.
func (s *serverProc) publishes() (loadserver.Publishes, error) {
	var p loadserver.Publishes
	err := s.call(http.MethodGet, "/publishes", nil, &p)
	if err == nil && p.Err != "" {
		err = fmt.Errorf("%s: %s", s.name, p.Err)
	}
	return p, err
}

// usage reads the server's CPU time and memory, after a collection when
// gc is set.
func (s *serverProc) usage(gc bool) (procstat.Usage, error) {
	var u procstat.Usage
	q := url.Values{}
	if gc {
		q.Set("gc", "1")
	}
	err := s.call(http.MethodGet, "/usage", q, &u)
	return u, err
}

// profile starts CPU profile phase, or ends profiling when phase is "".
func (s *serverProc) profile(phase string) error {
	var file string
	return s.call(http.MethodPost, "/profile", url.Values{"phase": {phase}}, &file)
}

func (s *serverProc) call(method, path string, q url.Values, out any) error {
	u := url.URL{Scheme: "http", Host: s.ready.Control, Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s: %s", s.name, path, resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", s.name, path, err)
	}
	return nil
}
