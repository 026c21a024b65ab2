package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// namespaceFile is where a pod's service account mount names its
// namespace.
const namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// connection is where to reach the API server and which namespace to use
// when the config names none.
type connection struct {
	rest      *rest.Config
	namespace string
	source    string // for log lines: the kubeconfig path or "in-cluster"
}

// connect finds the API server: the kubeconfig file when one is given,
// else the pod's service account when running in a cluster, else
// $KUBECONFIG or ~/.kube/config as kubectl would.
func connect(kubeconfig string) (connection, error) {
	if kubeconfig != "" {
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		return fromKubeconfig(rules, kubeconfig)
	}
	rc, err := rest.InClusterConfig()
	if err == nil {
		return connection{rest: rc, namespace: podNamespace(), source: "in-cluster"}, nil
	}
	if !errors.Is(err, rest.ErrNotInCluster) {
		return connection{}, fmt.Errorf("loading in-cluster config: %w", err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return fromKubeconfig(rules, strings.Join(rules.Precedence, string(os.PathListSeparator)))
}

// fromKubeconfig loads the current context of the files the rules name.
func fromKubeconfig(rules *clientcmd.ClientConfigLoadingRules, name string) (connection, error) {
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil)
	rc, err := cc.ClientConfig()
	if err != nil {
		return connection{}, fmt.Errorf("loading kubeconfig %s: %w", name, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return connection{}, fmt.Errorf("reading namespace from kubeconfig %s: %w", name, err)
	}
	return connection{rest: rc, namespace: ns, source: name}, nil
}

// podNamespace is the namespace of the pod this process runs in, or
// "default" when it cannot be told.
func podNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(namespaceFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}
