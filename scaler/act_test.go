package scaler

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spillway/spillway/policy"
)

var scaleIn = Request{
	Pool: "gpu", Current: 5, Desired: 3, Reason: "queue 4 under 5×5",
	Victims: []Instance{
		{Address: "10.0.1.13:8000", ID: "gpu-13"},
		{Address: "10.0.1.12:8000"},
	},
}

func TestExecActuator(t *testing.T) {
	dir := t.TempDir()
	envFile, stdinFile := filepath.Join(dir, "env"), filepath.Join(dir, "stdin")
	script := `env | grep -E '^SPILLWAY_(POOL|CURRENT|DESIRED|REASON|VICTIMS|VICTIM_IDS)=' | sort > "$1"; cat > "$2"`
	cmd := []string{"sh", "-c", script, "sh", envFile, stdinFile}
	act := NewExec(policy.ExecActuator{Command: cmd}, nil)
	if err := act.Scale(context.Background(), scaleIn); err != nil {
		t.Fatal(err)
	}

	env, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{
		"SPILLWAY_CURRENT=5",
		"SPILLWAY_DESIRED=3",
		"SPILLWAY_POOL=gpu",
		"SPILLWAY_REASON=queue 4 under 5×5",
		"SPILLWAY_VICTIMS=10.0.1.13:8000,10.0.1.12:8000",
		"SPILLWAY_VICTIM_IDS=gpu-13,",
	}
	if diff := cmp.Diff(wantEnv, strings.Split(strings.TrimSpace(string(env)), "\n")); diff != "" {
		t.Errorf("command environment (-want +got):\n%s", diff)
	}

	raw, err := os.ReadFile(stdinFile)
	if err != nil {
		t.Fatal(err)
	}
	var got Request
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("stdin is not a JSON request: %v: %s", err, raw)
	}
	if diff := cmp.Diff(scaleIn, got); diff != "" {
		t.Errorf("stdin request (-want +got):\n%s", diff)
	}
}

func TestExecActuatorFailures(t *testing.T) {
	tests := []struct {
		name    string
		command []string
		timeout time.Duration
		want    []string
	}{
		{"exit status and stderr", []string{"sh", "-c", "echo 'quota exceeded' >&2; exit 3"}, 0,
			[]string{"pool gpu", "exit status 3", "quota exceeded"}},
		{"timeout kills", []string{"sleep", "30"}, 100 * time.Millisecond,
			[]string{"timed out after 100ms"}},
		{"missing binary", []string{"/nonexistent/scale"}, 0,
			[]string{"/nonexistent/scale", "no such file"}},
		{"no command", nil, 0, []string{"no command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := NewExec(policy.ExecActuator{Command: tt.command, Timeout: tt.timeout}, nil)
			err := act.Scale(context.Background(), scaleIn)
			if err == nil {
				t.Fatal("Scale succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestWebhookActuator(t *testing.T) {
	var got Request
	var method, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, ctype = r.Method, r.Header.Get("Content-Type")
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	act := NewWebhook(policy.WebhookActuator{URL: srv.URL + "/scale"}, nil)
	if err := act.Scale(context.Background(), scaleIn); err != nil {
		t.Fatal(err)
	}
	if method != http.MethodPost || ctype != "application/json" {
		t.Errorf("method %s, content type %q; want POST of application/json", method, ctype)
	}
	if diff := cmp.Diff(scaleIn, got); diff != "" {
		t.Errorf("posted request (-want +got):\n%s", diff)
	}
}

func TestWebhookActuatorFailures(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		http.Error(w, "replica quota reached", http.StatusConflict)
	}))
	defer srv.Close()
	defer close(release)
	tests := []struct {
		name, path string
		want       []string
	}{
		{"non-2xx", "/scale", []string{"409 Conflict", "replica quota reached", "pool gpu"}},
		{"timeout", "/slow", []string{"deadline exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act := NewWebhook(policy.WebhookActuator{URL: srv.URL + tt.path,
				Timeout: 100 * time.Millisecond}, nil)
			err := act.Scale(context.Background(), scaleIn)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNewActuator(t *testing.T) {
	exec := &policy.ExecActuator{Command: []string{"true"}}
	hook := &policy.WebhookActuator{URL: "http://127.0.0.1:1/"}
	tests := []struct {
		name string
		cfg  policy.Actuator
		want string // error text, or the actuator's type
	}{
		{"exec", policy.Actuator{Exec: exec}, "*scaler.Exec"},
		{"webhook", policy.Actuator{Webhook: hook}, "*scaler.Webhook"},
		{"none", policy.Actuator{}, "none configured"},
		{"two", policy.Actuator{Exec: exec, Webhook: hook}, "exec and webhook are set"},
		{"kubernetes", policy.Actuator{Kubernetes: &policy.KubernetesActuator{}}, "scaler/kube"},
		{"keda", policy.Actuator{KEDA: &policy.KEDAActuator{}}, "KEDA owns the pool's replicas"},
		{"keda and exec", policy.Actuator{Exec: exec, KEDA: &policy.KEDAActuator{}},
			"exec and keda are set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, err := NewActuator(tt.cfg, nil)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = typeName(act)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("NewActuator = %q, want %q", got, tt.want)
			}
		})
	}
}

func typeName(a Actuator) string {
	switch a.(type) {
	case *Exec:
		return "*scaler.Exec"
	case *Webhook:
		return "*scaler.Webhook"
	}
	return "unknown"
}
