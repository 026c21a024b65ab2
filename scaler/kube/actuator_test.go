package kube

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spillway/spillway/policy"
	"github.com/spillway/spillway/scaler"
)

const (
	ns       = "inference"
	depScale = "/apis/apps/v1/namespaces/inference/deployments/gpu-inference/scale"
	stsScale = "/apis/apps/v1/namespaces/inference/statefulsets/gpu-stateful/scale"
	rollout  = "/apis/argoproj.io/v1alpha1/namespaces/inference/rollouts/canary/scale"
	podsPath = "/api/v1/namespaces/inference/pods"
	costSet  = `application/merge-patch+json ` +
		`{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":"-2147483648"}}}`
)

func pod(name, ip string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Status:     corev1.PodStatus{PodIP: ip, Phase: phase},
	}
}

// cluster is the stand-in API server with the workloads and pods every
// case starts from: a Deployment at 4 replicas, a StatefulSet and a
// Rollout, and pods of which one finished pod shares a live pod's IP.
func cluster(t *testing.T) *apiServer {
	api := newAPIServer(t)
	api.add("inference/apps/deployments/gpu-inference", 4, 7)
	api.add("inference/apps/statefulsets/gpu-stateful", 3, 2)
	api.add("inference/argoproj.io/rollouts/canary", 2, 11)
	api.pods = []corev1.Pod{
		pod("gpu-a", "10.1.0.11", corev1.PodRunning),
		pod("old-job", "10.1.0.12", corev1.PodSucceeded),
		pod("gpu-b", "10.1.0.12", corev1.PodRunning),
		pod("gpu-c", "10.1.0.13", corev1.PodRunning),
	}
	return api
}

func TestScale(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		racers   int
		req      scaler.Request
		want     []string
		wantErr  string
		marked   []string // pods that end with the victim deletion cost
		replicas map[string]int32
	}{{
		name: "scale out", resource: "deployment/gpu-inference",
		req: scaler.Request{Pool: "gpu", Current: 4, Desired: 6},
		want: []string{
			"GET " + depScale,
			"PUT " + depScale + " replicas=6 resourceVersion=7 -> 200",
		},
		replicas: map[string]int32{"inference/apps/deployments/gpu-inference": 6},
	}, {
		name: "conflict is retried with the new resourceVersion", resource: "deploy/gpu-inference",
		racers: 1, req: scaler.Request{Pool: "gpu", Current: 4, Desired: 6},
		want: []string{
			"GET " + depScale,
			"PUT " + depScale + " replicas=6 resourceVersion=7 -> 409",
			"GET " + depScale,
			"PUT " + depScale + " replicas=6 resourceVersion=8 -> 200",
		},
		replicas: map[string]int32{"inference/apps/deployments/gpu-inference": 6},
	}, {
		name: "no change writes nothing", resource: "deployments.apps/gpu-inference",
		req:  scaler.Request{Pool: "gpu", Current: 4, Desired: 4},
		want: []string{"GET " + depScale},
	}, {
		name: "scale in marks the victims' pods first", resource: "Deployment/gpu-inference",
		req: scaler.Request{Pool: "gpu", Current: 4, Desired: 2, Victims: []scaler.Instance{
			{Address: "10.1.0.12:8000"}, {Address: "10.9.9.9:8000", ID: "gpu-c"},
		}},
		want: []string{
			"GET " + podsPath + " fieldSelector=status.podIP=10.1.0.12",
			"PATCH " + podsPath + "/gpu-b " + costSet,
			"GET " + podsPath + " fieldSelector=status.podIP=10.9.9.9",
			"GET " + podsPath + "/gpu-c",
			"PATCH " + podsPath + "/gpu-c " + costSet,
			"GET " + depScale,
			"PUT " + depScale + " replicas=2 resourceVersion=7 -> 200",
		},
		marked:   []string{"gpu-b", "gpu-c"},
		replicas: map[string]int32{"inference/apps/deployments/gpu-inference": 2},
	}, {
		name: "a victim without a pod stops the scale-in", resource: "deployment/gpu-inference",
		req: scaler.Request{Pool: "gpu", Current: 4, Desired: 3,
			Victims: []scaler.Instance{{Address: "10.9.9.9:8000"}}},
		want:     []string{"GET " + podsPath + " fieldSelector=status.podIP=10.9.9.9"},
		wantErr:  "no running pod in namespace inference has IP 10.9.9.9",
		replicas: map[string]int32{"inference/apps/deployments/gpu-inference": 4},
	}, {
		name: "statefulset ignores victims", resource: "sts/gpu-stateful",
		req: scaler.Request{Pool: "gpu", Current: 3, Desired: 2,
			Victims: []scaler.Instance{{Address: "10.1.0.11:8000"}}},
		want: []string{
			"GET " + stsScale,
			"PUT " + stsScale + " replicas=2 resourceVersion=2 -> 200",
		},
		replicas: map[string]int32{"inference/apps/statefulsets/gpu-stateful": 2},
	}, {
		name: "other kinds go through the generic scale client", resource: "rollouts.argoproj.io/canary",
		req: scaler.Request{Pool: "gpu", Current: 2, Desired: 5},
		want: []string{
			"GET " + rollout,
			"PUT " + rollout + " replicas=5 resourceVersion=11 -> 200",
		},
		replicas: map[string]int32{"inference/argoproj.io/rollouts/canary": 5},
	}, {
		name: "missing workload", resource: "deployment/nope",
		req:  scaler.Request{Pool: "gpu", Current: 1, Desired: 2},
		want: []string{"GET /apis/apps/v1/namespaces/inference/deployments/nope/scale"},
		wantErr: `pool gpu: scaling inference/deployments.apps/nope to 2: ` +
			`deployments "nope" not found`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := cluster(t)
			api.racers = tt.racers
			cfg := policy.KubernetesActuator{Kubeconfig: api.kubeconfig(t, ns), Resource: tt.resource}
			act, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}

			err = act.Scale(t.Context(), tt.req)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, api.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			for key, want := range tt.replicas {
				if got := api.replicas(key); got != want {
					t.Errorf("%s replicas = %d, want %d", key, got, want)
				}
			}
			for _, p := range []string{"gpu-a", "gpu-b", "gpu-c", "old-job"} {
				_, got := api.annotations(p)[DeletionCostAnnotation]
				if want := contains(tt.marked, p); got != want {
					t.Errorf("pod %s has the deletion cost: %v, want %v", p, got, want)
				}
			}
		})
	}
}

// TestNamespace checks where the namespace comes from: the actuator's
// config first, then the kubeconfig's context, found through $KUBECONFIG
// when the config names no file.
func TestNamespace(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		explicit  bool
		want      string
	}{
		{"from the kubeconfig context", "", true, depScale},
		{"from the config", "other", true,
			"/apis/apps/v1/namespaces/other/deployments/gpu-inference/scale"},
		{"through KUBECONFIG", "", false, depScale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := cluster(t)
			api.add("other/apps/deployments/gpu-inference", 4, 1)
			cfg := policy.KubernetesActuator{Namespace: tt.namespace, Resource: "deployment/gpu-inference"}
			path := api.kubeconfig(t, ns)
			if tt.explicit {
				cfg.Kubeconfig = path
			} else {
				t.Setenv("KUBECONFIG", path)
				t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a cluster
			}
			act, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			req := scaler.Request{Pool: "gpu", Current: 4, Desired: 4}
			if err := act.Scale(t.Context(), req); err != nil {
				t.Fatal(err)
			}
			if got := api.requests(); len(got) != 1 || got[0] != "GET "+tt.want {
				t.Errorf("requests = %q, want one GET %s", got, tt.want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	api := cluster(t)
	good := api.kubeconfig(t, ns)
	tests := []struct {
		name    string
		cfg     policy.KubernetesActuator
		wantErr string
	}{
		{"no name", policy.KubernetesActuator{Kubeconfig: good, Resource: "deployment"},
			`resource: want kind/name such as deployment/gpu-inference, got "deployment"`},
		{"empty kind", policy.KubernetesActuator{Kubeconfig: good, Resource: "/gpu"},
			`got "/gpu"`},
		{"too many parts", policy.KubernetesActuator{Kubeconfig: good, Resource: "a/b/c"},
			`got "a/b/c"`},
		{"missing kubeconfig", policy.KubernetesActuator{
			Kubeconfig: "/nonexistent/kubeconfig", Resource: "deployment/x"},
			"loading kubeconfig /nonexistent/kubeconfig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
