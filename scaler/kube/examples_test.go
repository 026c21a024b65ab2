package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/spillway/spillway/policy"
)

// examplesDir holds the Kubernetes manifests of examples/kubernetes.
const examplesDir = "../../examples/kubernetes"

// scaledObject is the part of KEDA's ScaledObject the examples use; KEDA's
// Go types are not a dependency, so strict decoding into this catches a
// misspelt field name among those.
type scaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int `json:"minReplicaCount"`
		MaxReplicaCount int `json:"maxReplicaCount"`
		PollingInterval int `json:"pollingInterval"`
		CooldownPeriod  int `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// manifests are the decoded objects of every file in examplesDir, by name.
type manifests struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           map[string]*rbacv1.Role
	roleBindings    map[string]*rbacv1.RoleBinding
	scaledObjects   map[string]*scaledObject
}

// newObject returns the Go type a document of this apiVersion and kind
// decodes into, and the index it belongs in.
func (m *manifests) newObject(apiVersion, kind, name string) (any, error) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return put(m.deployments, name, &appsv1.Deployment{}), nil
	case "v1 Service":
		return put(m.services, name, &corev1.Service{}), nil
	case "v1 ConfigMap":
		return put(m.configMaps, name, &corev1.ConfigMap{}), nil
	case "v1 ServiceAccount":
		return put(m.serviceAccounts, name, &corev1.ServiceAccount{}), nil
	case "rbac.authorization.k8s.io/v1 Role":
		return put(m.roles, name, &rbacv1.Role{}), nil
	case "rbac.authorization.k8s.io/v1 RoleBinding":
		return put(m.roleBindings, name, &rbacv1.RoleBinding{}), nil
	case "keda.sh/v1alpha1 ScaledObject":
		return put(m.scaledObjects, name, &scaledObject{}), nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q is not one the examples should use",
		apiVersion, kind)
}

func put[T any](index map[string]T, name string, v T) T {
	index[name] = v
	return v
}

// examples decodes every document of every file in examplesDir strictly,
// once for all the tests; problems are joined, each as file:line.
var examples = sync.OnceValues(func() (*manifests, error) {
	m := &manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, serviceAccounts: map[string]*corev1.ServiceAccount{},
		roles: map[string]*rbacv1.Role{}, roleBindings: map[string]*rbacv1.RoleBinding{},
		scaledObjects: map[string]*scaledObject{},
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no manifests in %s: %v", examplesDir, err)
	}
	var errs []error
	for _, f := range files {
		errs = append(errs, m.loadFile(f))
	}
	return m, errors.Join(errs...)
})

// loadExamples returns what decoded; TestExamplesDecodeStrictly alone
// reports the documents that did not.
func loadExamples(t *testing.T) *manifests {
	t.Helper()
	m, err := examples()
	if m == nil {
		t.Fatal(err)
	}
	return m
}

func (m *manifests) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var errs []error
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := m.loadDoc(&doc); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, doc.Line, err))
		}
	}
	return errors.Join(errs...)
}

// loadDoc checks the fields every object needs, then decodes the document
// strictly into its Go type, so an unknown or misplaced field fails.
func (m *manifests) loadDoc(doc *yaml.Node) error {
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
	}
	if err := doc.Decode(&head); err != nil {
		return err
	}
	if head.Metadata.Name == "" || head.Metadata.Namespace != "inference" {
		return fmt.Errorf("%s %q: want a name and namespace inference, got namespace %q",
			head.Kind, head.Metadata.Name, head.Metadata.Namespace)
	}
	obj, err := m.newObject(head.APIVersion, head.Kind, head.Metadata.Name)
	if err != nil {
		return err
	}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	if err := sigsyaml.UnmarshalStrict(raw, obj); err != nil {
		return fmt.Errorf("%s %s: %w", head.Kind, head.Metadata.Name, err)
	}
	return nil
}

func TestExamplesDecodeStrictly(t *testing.T) {
	m := loadExamples(t)
	if _, err := examples(); err != nil {
		t.Error(err)
	}
	// Every object the README names must be there.
	want := map[string][]string{
		"Deployment": {"spillway-serve", "spillway-scale", "gpu-inference", "api"},
		"Service":    {"spillway", "spillway-scaler"}, "ScaledObject": {"gpu-inference"},
		"Role": {"spillway-scaler"}, "RoleBinding": {"spillway-scaler"},
	}
	have := map[string]func(string) bool{
		"Deployment":   func(n string) bool { return m.deployments[n] != nil },
		"Service":      func(n string) bool { return m.services[n] != nil },
		"ScaledObject": func(n string) bool { return m.scaledObjects[n] != nil },
		"Role":         func(n string) bool { return m.roles[n] != nil },
		"RoleBinding":  func(n string) bool { return m.roleBindings[n] != nil },
	}
	for kind, names := range want {
		for _, n := range names {
			if !have[kind](n) {
				t.Errorf("%s %s is missing from %s", kind, n, examplesDir)
			}
		}
	}
}

func TestExamplesDeployments(t *testing.T) {
	m := loadExamples(t)
	for name, d := range m.deployments {
		t.Run(name, func(t *testing.T) {
			sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %s does not select the pod template's labels %v",
					sel, d.Spec.Template.Labels)
			}
			if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "" && m.serviceAccounts[sa] == nil {
				t.Errorf("service account %q is not defined", sa)
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil {
					t.Errorf("volume %s: config map %q is not defined", v.Name, v.ConfigMap.Name)
				}
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				checkProbes(t, c)
				checkConfigArg(t, m, d, c)
			}
		})
	}
}

// checkProbes checks that every probe reaches a port the container has.
func checkProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe,
		"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			continue
		}
		if _, ok := containerPort(c, p.HTTPGet.Port.String()); !ok {
			t.Errorf("container %s: %s probe port %s is not a container port",
				c.Name, kind, p.HTTPGet.Port.String())
		}
	}
}

// containerPort finds a port by name or number.
func containerPort(c corev1.Container, port string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// checkConfigArg checks that --config names a key of a mounted ConfigMap.
func checkConfigArg(t *testing.T, m *manifests, d *appsv1.Deployment, c corev1.Container) {
	t.Helper()
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		return
	}
	path := c.Args[i+1]
	for _, vm := range c.VolumeMounts {
		key, ok := strings.CutPrefix(path, vm.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				if cm := m.configMaps[v.ConfigMap.Name]; cm == nil || cm.Data[key] == "" {
					t.Errorf("--config %s: config map %s has no key %q", path, v.ConfigMap.Name, key)
				}
				return
			}
		}
	}
	t.Errorf("--config %s is not in a mounted config map", path)
}

func TestExamplesServices(t *testing.T) {
	m := loadExamples(t)
	for name, s := range m.services {
		t.Run(name, func(t *testing.T) {
			d := selected(m, s)
			if d == nil {
				t.Fatalf("selector %v selects no Deployment", s.Spec.Selector)
			}
			for _, p := range s.Spec.Ports {
				if _, ok := containerPort(d.Spec.Template.Spec.Containers[0], p.TargetPort.String()); !ok {
					t.Errorf("port %s: target %s is not a port of %s", p.Name, p.TargetPort.String(), d.Name)
				}
			}
		})
	}
}

// selected is the Deployment whose pods a Service selects.
func selected(m *manifests, s *corev1.Service) *appsv1.Deployment {
	sel := labels.SelectorFromSet(s.Spec.Selector)
	for _, d := range m.deployments {
		if len(s.Spec.Selector) > 0 && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return d
		}
	}
	return nil
}

func TestExamplesRBAC(t *testing.T) {
	m := loadExamples(t)
	for name, rb := range m.roleBindings {
		if rb.RoleRef.Kind != "Role" || m.roles[rb.RoleRef.Name] == nil {
			t.Errorf("role binding %s: role %s %q is not defined", name, rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		for _, s := range rb.Subjects {
			if s.Kind == "ServiceAccount" && m.serviceAccounts[s.Name] == nil {
				t.Errorf("role binding %s: service account %q is not defined", name, s.Name)
			}
		}
	}
}

func TestExamplesScaledObjects(t *testing.T) {
	m := loadExamples(t)
	cfg := exampleScalerConfig(t, m)
	for name, so := range m.scaledObjects {
		t.Run(name, func(t *testing.T) {
			ref := so.Spec.ScaleTargetRef
			if ref.Kind != "Deployment" || m.deployments[ref.Name] == nil {
				t.Errorf("scaleTargetRef %s %q is not a Deployment of the examples", ref.Kind, ref.Name)
			}
			for _, tr := range so.Spec.Triggers {
				if tr.Type != "external" && tr.Type != "external-push" {
					t.Errorf("trigger type %q, want external or external-push", tr.Type)
					continue
				}
				checkScalerAddress(t, m, tr.Metadata["scalerAddress"])
				pool, ok := cfg.Scaler.Pools[tr.Metadata["pool"]]
				if !ok || pool.Actuator.KEDA == nil {
					t.Errorf("pool %q is not a pool of the scaler config whose replicas KEDA owns",
						tr.Metadata["pool"])
				}
			}
		})
	}
}

// checkScalerAddress checks that name.namespace:port is a Service port
// that leads to the scaler's KEDA listener.
func checkScalerAddress(t *testing.T, m *manifests, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("scalerAddress %q: %v", addr, err)
	}
	svc, ns, _ := strings.Cut(host, ".")
	s := m.services[svc]
	if s == nil || ns != "inference" {
		t.Fatalf("scalerAddress %q: no Service %s in namespace inference", addr, svc)
	}
	for _, p := range s.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port {
			return
		}
	}
	t.Errorf("scalerAddress %q: Service %s has no port %s", addr, svc, port)
}

// TestExamplesConfigsPass checks every Spillway config in a ConfigMap of
// the examples the way `spillway check` does, with policy.Parse: strict
// fields, defaults and validation. Lines in the errors count from the
// first line of the ConfigMap key's value.
func TestExamplesConfigsPass(t *testing.T) {
	m := loadExamples(t)
	n := 0
	for name, cm := range m.configMaps {
		for key, data := range cm.Data {
			if !strings.HasSuffix(key, ".yaml") {
				continue
			}
			n++
			t.Run(name+"/"+key, func(t *testing.T) {
				if _, err := policy.Parse(configMapPath(name, key), []byte(data)); err != nil {
					t.Errorf("spillway check fails:\n%v", err)
				}
			})
		}
	}
	if n == 0 {
		t.Errorf("no Spillway config in the ConfigMaps of %s", examplesDir)
	}
}

// configMapPath names a ConfigMap key as the file it is mounted as, for
// policy.Parse's messages.
func configMapPath(name, key string) string {
	return filepath.Join(examplesDir, "configmap "+name, key)
}

// exampleScalerConfig is the config that serve and scale share, as
// `spillway check` reads it.
func exampleScalerConfig(t *testing.T, m *manifests) *policy.Config {
	t.Helper()
	cm := m.configMaps["spillway-config"]
	if cm == nil {
		t.Fatal("config map spillway-config is missing")
	}
	cfg, err := policy.Parse(configMapPath(cm.Name, "spillway.yaml"), []byte(cm.Data["spillway.yaml"]))
	if err != nil {
		t.Fatalf("spillway-config spillway.yaml: %v", err)
	}
	if cfg.Scaler == nil {
		t.Fatal("spillway-config spillway.yaml has no scaler section")
	}
	return cfg
}

// TestExamplesMatchConfig checks that the ports the manifests open are the
// ones the config listens on, and that every workload the Kubernetes
// actuator scales exists and is granted to it.
func TestExamplesMatchConfig(t *testing.T) {
	m := loadExamples(t)
	cfg := exampleScalerConfig(t, m)
	kedaListen := ""
	if cfg.Scaler.KEDA != nil {
		kedaListen = cfg.Scaler.KEDA.Listen
	}
	ports := []struct{ deployment, port, listen string }{
		{"spillway-serve", "admin", cfg.Admin.Listen},
		{"spillway-scale", "admin", cfg.Scaler.Admin.Listen},
		{"spillway-scale", "keda", kedaListen},
	}
	for _, p := range ports {
		t.Run(p.deployment+" "+p.port, func(t *testing.T) {
			_, want, err := net.SplitHostPort(p.listen)
			if err != nil {
				t.Fatalf("config listen %q: %v", p.listen, err)
			}
			d := m.deployments[p.deployment]
			if d == nil {
				t.Fatalf("Deployment %s is missing", p.deployment)
			}
			got, ok := containerPort(d.Spec.Template.Spec.Containers[0], p.port)
			if !ok || strconv.Itoa(int(got)) != want {
				t.Errorf("container port %s = %d, config listens on %s", p.port, got, p.listen)
			}
		})
	}
	for name, pool := range cfg.Scaler.Pools {
		if k := pool.Actuator.Kubernetes; k != nil {
			t.Run("actuator of "+name, func(t *testing.T) { checkActuated(t, m, k.Resource) })
		}
	}
}

// checkActuated checks that a Kubernetes actuator's deployment exists and
// that the scaler's Role may read and update its scale.
func checkActuated(t *testing.T, m *manifests, resource string) {
	t.Helper()
	r, err := parseRef(resource)
	if err != nil || appsKinds[r.resource] != "deployments" || m.deployments[r.name] == nil {
		t.Fatalf("resource %q is not a Deployment of the examples (%v)", resource, err)
	}
	for _, role := range m.roles {
		for _, rule := range role.Rules {
			if slices.Contains(rule.Resources, "deployments/scale") &&
				slices.Contains(rule.Verbs, "update") &&
				(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, r.name)) {
				return
			}
		}
	}
	t.Errorf("no Role grants update of deployments/scale on %s", r.name)
}
