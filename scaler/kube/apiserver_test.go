package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// apiServer stands in for the Kubernetes API server, which cannot run in
// these tests. It implements only what the actuator calls: the scale
// subresource of apps workloads and of one custom resource (Argo's
// rollouts), listing pods by IP, getting and merge-patching a pod, and the
// discovery documents the generic scale client reads. It keeps a
// resourceVersion per object and refuses a stale one with 409 as the real
// server does, and it records every request for the tests to check.
type apiServer struct {
	*httptest.Server

	mu sync.Mutex
	// objects holds the replicas of each scalable object by
	// "namespace/group/resource/name"; versions holds its resourceVersion.
	objects  map[string]int32
	versions map[string]int
	pods     []corev1.Pod
	// racers is how many of the next scale reads are followed by a write
	// from someone else, which makes the actuator's update conflict.
	racers int
	calls  []string
}

func newAPIServer(t *testing.T) *apiServer {
	s := &apiServer{objects: map[string]int32{}, versions: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/scale", s.getScale)
	mux.HandleFunc("PUT /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/scale", s.putScale)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods", s.listPods)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}", s.getPod)
	mux.HandleFunc("PATCH /api/v1/namespaces/{ns}/pods/{name}", s.patchPod)
	mux.HandleFunc("GET /api", s.discovery(metav1.APIVersions{Versions: []string{"v1"}}))
	mux.HandleFunc("GET /apis", s.discovery(apiGroups()))
	mux.HandleFunc("GET /api/v1", s.discovery(resources("v1", "pods", "Pod", false)))
	mux.HandleFunc("GET /apis/apps/v1",
		s.discovery(resources("apps/v1", "deployments", "Deployment", true)))
	mux.HandleFunc("GET /apis/argoproj.io/v1alpha1",
		s.discovery(resources("argoproj.io/v1alpha1", "rollouts", "Rollout", true)))
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// add creates a scalable object with its replicas and resourceVersion.
func (s *apiServer) add(key string, replicas int32, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = replicas
	s.versions[key] = version
}

// replicas is what the object's spec.replicas is now.
func (s *apiServer) replicas(key string) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[key]
}

// requests are the recorded calls that touch namespaced objects, in
// order; discovery reads are left out.
func (s *apiServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *apiServer) record(format string, args ...any) {
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

func objectKey(r *http.Request) string {
	return strings.Join([]string{r.PathValue("ns"), r.PathValue("group"),
		r.PathValue("resource"), r.PathValue("name")}, "/")
}

func (s *apiServer) getScale(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("GET %s", r.URL.Path)
	key := objectKey(r)
	n, ok := s.objects[key]
	if !ok {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound,
			r.PathValue("resource")+" "+strconv.Quote(r.PathValue("name"))+" not found")
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(r, n, s.versions[key]))
	if s.racers > 0 {
		s.racers--
		s.versions[key]++
	}
}

func (s *apiServer) putScale(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// client-go sends protobuf or JSON; the scheme's decoder reads both.
	body, _ := io.ReadAll(r.Body)
	var in autoscalingv1.Scale
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, &in); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	key := objectKey(r)
	code := http.StatusOK
	if in.ResourceVersion != strconv.Itoa(s.versions[key]) {
		code = http.StatusConflict
	}
	s.record("PUT %s replicas=%d resourceVersion=%s -> %d",
		r.URL.Path, in.Spec.Replicas, in.ResourceVersion, code)
	if code == http.StatusConflict {
		writeStatus(w, code, metav1.StatusReasonConflict, "the object has been modified")
		return
	}
	s.objects[key] = in.Spec.Replicas
	s.versions[key]++
	writeJSON(w, code, scaleOf(r, in.Spec.Replicas, s.versions[key]))
}

func scaleOf(r *http.Request, replicas int32, version int) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{Name: r.PathValue("name"), Namespace: r.PathValue("ns"),
			ResourceVersion: strconv.Itoa(version)},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: replicas},
	}
}

// listPods answers the one field selector the actuator uses,
// status.podIP=IP.
func (s *apiServer) listPods(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := r.URL.Query().Get("fieldSelector")
	s.record("GET %s fieldSelector=%s", r.URL.Path, sel)
	ip, ok := strings.CutPrefix(sel, "status.podIP=")
	if !ok {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "unsupported selector "+sel)
		return
	}
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.pods {
		if p.Namespace == r.PathValue("ns") && p.Status.PodIP == ip {
			list.Items = append(list.Items, p)
		}
	}
	writeJSON(w, http.StatusOK, &list)
}

func (s *apiServer) getPod(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record("GET %s", r.URL.Path)
	if p := s.pod(r); p != nil {
		writeJSON(w, http.StatusOK, p)
		return
	}
	writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "pod not found")
}

// patchPod applies the annotations of a merge patch, the only field the
// actuator patches, and records them.
func (s *apiServer) patchPod(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	s.record("PATCH %s %s %s", r.URL.Path, r.Header.Get("Content-Type"), body)
	p := s.pod(r)
	if p == nil {
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "pod not found")
		return
	}
	var patch struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &patch); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	for k, v := range patch.Metadata.Annotations {
		p.Annotations[k] = v
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *apiServer) pod(r *http.Request) *corev1.Pod {
	for i := range s.pods {
		if s.pods[i].Namespace == r.PathValue("ns") && s.pods[i].Name == r.PathValue("name") {
			return &s.pods[i]
		}
	}
	return nil
}

// annotations returns a pod's annotations as they are now.
func (s *apiServer) annotations(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pods {
		if p.Name == name {
			return p.Annotations
		}
	}
	return nil
}

func (s *apiServer) discovery(doc any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, doc) }
}

func apiGroups() *metav1.APIGroupList {
	group := func(name, version string) metav1.APIGroup {
		gv := metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + version, Version: version}
		return metav1.APIGroup{Name: name, Versions: []metav1.GroupVersionForDiscovery{gv},
			PreferredVersion: gv}
	}
	return &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups:   []metav1.APIGroup{group("apps", "v1"), group("argoproj.io", "v1alpha1")},
	}
}

// resources lists one namespaced resource of a group version and, when
// scalable, its scale subresource as autoscaling/v1 Scale.
func resources(gv, plural, kind string, scalable bool) *metav1.APIResourceList {
	list := &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv,
		APIResources: []metav1.APIResource{{Name: plural, Namespaced: true, Kind: kind,
			SingularName: strings.ToLower(kind), Verbs: metav1.Verbs{"get", "list", "update"}}},
	}
	if scalable {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: plural + "/scale", Namespaced: true, Group: "autoscaling", Version: "v1",
			Kind: "Scale", Verbs: metav1.Verbs{"get", "update", "patch"}})
	}
	return list
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

// kubeconfig writes a kubeconfig whose current context reaches the server
// with namespace ns, and returns its path.
func (s *apiServer) kubeconfig(t *testing.T, ns string) string {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: test
    cluster: {server: %q}
users:
  - name: test
    user: {token: test-token}
contexts:
  - name: test
    context: {cluster: test, user: test, namespace: %q}
current-context: test
`, s.URL, ns)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
