package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// Client is an xDS client on one state-of-the-world ADS stream that
// subscribes as Envoy does: clusters by wildcard, then the endpoints of
// exactly the clusters it holds, updating that subscription whenever the
// clusters change. It validates every resource, ACKs what it accepts and
// NACKs the rest, and keeps the latest State for tests to read or wait on.
//
// go-control-plane's own client (pkg/client/sotw/v3) serves one type URL
// per client and sends no resource names, so it cannot follow clusters
// with an endpoint subscription on the same stream; hence this one.
type Client struct {
	conn   *grpc.ClientConn
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the receive goroutine.
	edsNames []string
	nonces   map[string]string

	mu      sync.Mutex
	state   *State
	changed chan struct{} // closed when state or err changes
	err     error
}

// Dial connects to the ADS server at addr as the node nodeID, opens the
// stream and subscribes to clusters. It returns once the first request is
// sent; responses are handled in the background until Close.
func Dial(addr, nodeID string, opts ...grpc.DialOption) (*Client, error) {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to xds server %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).
		StreamAggregatedResources(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("opening ads stream to %s: %w", addr, err)
	}
	c := &Client{
		conn:    conn,
		stream:  stream,
		node:    &corev3.Node{Id: nodeID, Cluster: "e2e"},
		cancel:  cancel,
		done:    make(chan struct{}),
		nonces:  map[string]string{},
		state:   emptyState(),
		changed: make(chan struct{}),
	}
	if err := c.send(resourcev3.ClusterType, "", nil, nil); err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	go c.receive()
	return c, nil
}

// Close ends the stream and the connection and waits for the receive
// goroutine to return.
func (c *Client) Close() error {
	c.cancel()
	<-c.done
	return c.conn.Close()
}

// Latest returns the state of the last accepted response; it has no
// clusters and no versions before the first one.
func (c *Client) Latest() *State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Wait returns the first state, the current one included, for which pred
// holds. It fails when ctx ends first, when the stream fails, or when the
// client has rejected a response; the state it returns then is the last
// one, for the error message.
func (c *Client) Wait(ctx context.Context, pred func(*State) bool) (*State, error) {
	for {
		c.mu.Lock()
		st, changed, err := c.state, c.changed, c.err
		c.mu.Unlock()
		if pred(st) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return st, fmt.Errorf("waiting for xds state: %w", ctx.Err())
		}
	}
}

// receive handles responses until the stream ends.
func (c *Client) receive() {
	defer close(c.done)
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			if grpcstatus.Code(err) != codes.Canceled {
				c.fail(fmt.Errorf("receiving from ads stream: %w", err))
			}
			return
		}
		if err := c.handle(resp); err != nil {
			c.fail(err)
			return
		}
	}
}

// handle accepts or rejects one response. Like Envoy, it asks for the
// endpoints of new clusters before it ACKs the clusters.
func (c *Client) handle(resp *discoveryv3.DiscoveryResponse) error {
	typeURL := resp.GetTypeUrl()
	c.nonces[typeURL] = resp.GetNonce()
	prev := c.Latest()
	next, err := prev.next(resp, time.Now())
	if err != nil {
		c.fail(fmt.Errorf("rejected %s version %s: %w", typeURL, resp.GetVersionInfo(), err))
		return c.send(typeURL, prev.Versions[typeURL], c.names(typeURL),
			&status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()})
	}
	c.publish(next, nil)

	if typeURL == resourcev3.ClusterType {
		if err := c.followClusters(next); err != nil {
			return err
		}
	}
	return c.send(typeURL, resp.GetVersionInfo(), c.names(typeURL), nil)
}

// followClusters moves the endpoint subscription to the clusters held.
// An empty list would read as a wildcard, so the last names stay until
// there are clusters again.
func (c *Client) followClusters(st *State) error {
	names := st.ClusterNames()
	if len(names) == 0 || slices.Equal(names, c.edsNames) {
		return nil
	}
	c.edsNames = names
	return c.send(resourcev3.EndpointType, st.Versions[resourcev3.EndpointType], names, nil)
}

// names returns the resource names of the subscription of typeURL.
func (c *Client) names(typeURL string) []string {
	if typeURL == resourcev3.EndpointType {
		return c.edsNames
	}
	return nil
}

func (c *Client) send(typeURL, version string, names []string, nack *status.Status) error {
	err := c.stream.Send(&discoveryv3.DiscoveryRequest{
		Node:          c.node,
		TypeUrl:       typeURL,
		VersionInfo:   version,
		ResourceNames: names,
		ResponseNonce: c.nonces[typeURL],
		ErrorDetail:   nack,
	})
	if err != nil {
		return fmt.Errorf("sending %s request: %w", typeURL, err)
	}
	return nil
}

// fail records err; Wait reports it, with any earlier ones, from then on.
func (c *Client) fail(err error) {
	c.publish(nil, err)
}

// publish replaces the state or records an error, and wakes the waiters.
func (c *Client) publish(st *State, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st != nil {
		c.state = st
	}
	if err != nil {
		c.err = errors.Join(c.err, err)
	}
	close(c.changed)
	c.changed = make(chan struct{})
}
