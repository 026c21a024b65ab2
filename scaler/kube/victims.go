package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/spillway/spillway/scaler"
)

// DeletionCostAnnotation is the pod annotation a ReplicaSet reads to
// choose which pods to remove when it scales in: lower costs go first.
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// VictimDeletionCost is the cost given to drained pods: the lowest the
// annotation allows, so they go before any pod another tool ranked.
const VictimDeletionCost = math.MinInt32

// podClient finds and marks the pods behind the scaler's instances.
type podClient struct {
	pods corev1client.PodInterface
	ns   string
}

// find returns the name of the live pod whose IP is the victim's host, or
// else, when the victim has an ID, the pod of that name.
func (c podClient) find(ctx context.Context, v scaler.Instance) (string, error) {
	ip := hostOf(v.Address)
	list, err := c.pods.List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("status.podIP", ip).String(),
	})
	if err != nil {
		return "", fmt.Errorf("listing pods with IP %s in namespace %s: %w", ip, c.ns, err)
	}
	for _, p := range list.Items {
		if live(p) {
			return p.Name, nil
		}
	}
	if v.ID != "" {
		p, err := c.pods.Get(ctx, v.ID, metav1.GetOptions{})
		if err == nil && live(*p) {
			return p.Name, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("getting pod %s/%s: %w", c.ns, v.ID, err)
		}
	}
	return "", fmt.Errorf("victim %s: no running pod in namespace %s has IP %s"+
		" or is named %q; not scaling in without choosing the pods", v.Address, c.ns, ip, v.ID)
}

// markVictim sets the victim deletion cost on a pod with a merge patch,
// which touches that one annotation and needs no resourceVersion.
func (c podClient) markVictim(ctx context.Context, pod string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"annotations": map[string]string{
				DeletionCostAnnotation: strconv.Itoa(VictimDeletionCost),
			},
		},
	})
	if err != nil {
		return fmt.Errorf("encoding patch of pod %s/%s: %w", c.ns, pod, err)
	}
	_, err = c.pods.Patch(ctx, pod, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("setting %s on pod %s/%s: %w", DeletionCostAnnotation, c.ns, pod, err)
	}
	return nil
}

// live is true for a pod that is neither finished nor being deleted: an
// IP can belong to an old, completed pod as well as to the running one.
func live(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// hostOf is the host of a host:port address, or the address itself when
// it has no port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
