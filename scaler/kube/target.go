package kube

import (
	"context"
	"fmt"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
)

// target is a workload whose replica count is read and written through
// its scale subresource.
type target interface {
	get(ctx context.Context) (*autoscalingv1.Scale, error)
	update(ctx context.Context, s *autoscalingv1.Scale) error
	// choosesVictims is false where the controller ignores the pod
	// deletion cost, as a StatefulSet does: it always removes the highest
	// ordinals.
	choosesVictims() bool
	String() string
}

// ref is a parsed "kind/name": the resource, the API group when one was
// written ("rollouts.argoproj.io/x"), and the object's name.
type ref struct {
	resource string
	group    string
	name     string
}

// parseRef reads a kind/name the way kubectl does: the kind may be
// singular, plural, a short name or carry its group after a dot.
func parseRef(s string) (ref, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || kind == "" || name == "" || strings.Contains(name, "/") {
		return ref{}, fmt.Errorf("resource: want kind/name such as deployment/gpu-inference, got %q", s)
	}
	gr := schema.ParseGroupResource(strings.ToLower(kind))
	return ref{resource: gr.Resource, group: gr.Group, name: name}, nil
}

// appsKinds maps the names of the apps/v1 workloads, in every spelling
// kubectl accepts, to their plural resource.
var appsKinds = map[string]string{
	"deployment": "deployments", "deployments": "deployments", "deploy": "deployments",
	"statefulset": "statefulsets", "statefulsets": "statefulsets", "sts": "statefulsets",
	"replicaset": "replicasets", "replicasets": "replicasets", "rs": "replicasets",
}

// newTarget picks the typed apps/v1 client for the apps workloads, which
// needs no discovery, and the generic scale client for anything else that
// has a scale subresource.
func newTarget(rc *rest.Config, cs kubernetes.Interface, ns string, r ref) (target, error) {
	if plural, ok := appsKinds[r.resource]; ok && (r.group == "" || r.group == "apps") {
		return appsTarget{cs: cs, ns: ns, resource: plural, name: r.name}, nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	sc, err := scale.NewForConfig(rest.CopyConfig(rc), mapper, dynamic.LegacyAPIPathResolverFunc,
		scale.NewDiscoveryScaleKindResolver(cached))
	if err != nil {
		return nil, fmt.Errorf("building scale client: %w", err)
	}
	gr := schema.GroupResource{Group: r.group, Resource: r.resource}
	return scaleTarget{sc: sc.Scales(ns), gr: gr, ns: ns, name: r.name}, nil
}

// appsTarget is a Deployment, StatefulSet or ReplicaSet.
type appsTarget struct {
	cs       kubernetes.Interface
	ns       string
	resource string
	name     string
}

func (t appsTarget) get(ctx context.Context) (*autoscalingv1.Scale, error) {
	apps := t.cs.AppsV1()
	switch t.resource {
	case "deployments":
		return apps.Deployments(t.ns).GetScale(ctx, t.name, metav1.GetOptions{})
	case "statefulsets":
		return apps.StatefulSets(t.ns).GetScale(ctx, t.name, metav1.GetOptions{})
	default:
		return apps.ReplicaSets(t.ns).GetScale(ctx, t.name, metav1.GetOptions{})
	}
}

func (t appsTarget) update(ctx context.Context, s *autoscalingv1.Scale) error {
	apps := t.cs.AppsV1()
	var err error
	switch t.resource {
	case "deployments":
		_, err = apps.Deployments(t.ns).UpdateScale(ctx, t.name, s, metav1.UpdateOptions{})
	case "statefulsets":
		_, err = apps.StatefulSets(t.ns).UpdateScale(ctx, t.name, s, metav1.UpdateOptions{})
	default:
		_, err = apps.ReplicaSets(t.ns).UpdateScale(ctx, t.name, s, metav1.UpdateOptions{})
	}
	return err
}

func (t appsTarget) choosesVictims() bool { return t.resource != "statefulsets" }

func (t appsTarget) String() string { return t.ns + "/" + t.resource + ".apps/" + t.name }

// scaleTarget is any other resource with a scale subresource, such as an
// Argo Rollout or a custom resource that declares one; discovery finds
// its version and the kind of its scale.
type scaleTarget struct {
	sc   scale.ScaleInterface
	gr   schema.GroupResource
	ns   string
	name string
}

func (t scaleTarget) get(ctx context.Context) (*autoscalingv1.Scale, error) {
	return t.sc.Get(ctx, t.gr, t.name, metav1.GetOptions{})
}

func (t scaleTarget) update(ctx context.Context, s *autoscalingv1.Scale) error {
	_, err := t.sc.Update(ctx, t.gr, s, metav1.UpdateOptions{})
	return err
}

// choosesVictims is true since most such controllers keep ReplicaSets,
// and the annotation is harmless to those that do not.
func (t scaleTarget) choosesVictims() bool { return true }

func (t scaleTarget) String() string { return t.ns + "/" + t.gr.String() + "/" + t.name }
