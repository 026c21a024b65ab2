package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// publishedDraining asks Spillway's admin server which endpoints of the
// pool it publishes as DRAINING right now, by host:port. A drain waits for
// this before it trusts that no new request can reach a victim.
func publishedDraining(ctx context.Context, client *http.Client,
	admin string) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+admin+"/debug/resources", nil)
	if err != nil {
		return nil, fmt.Errorf("reading published resources: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading published resources: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading published resources: status %s", resp.Status)
	}
	var doc struct {
		Endpoints []json.RawMessage `json:"endpoints"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading published resources: %w", err)
	}
	return drainingIn(doc.Endpoints)
}

// drainingIn returns the DRAINING endpoints of the pool's assignment among
// the rendered ones.
func drainingIn(assignments []json.RawMessage) (map[string]bool, error) {
	out := map[string]bool{}
	for _, raw := range assignments {
		var cla endpointv3.ClusterLoadAssignment
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &cla); err != nil {
			return nil, fmt.Errorf("reading published endpoints: %w", err)
		}
		if cla.GetClusterName() != poolName {
			continue
		}
		for _, loc := range cla.GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				if ep.GetHealthStatus() != corev3.HealthStatus_DRAINING {
					continue
				}
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
				out[addr] = true
			}
		}
	}
	return out, nil
}
