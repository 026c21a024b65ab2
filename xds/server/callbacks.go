package server

import (
	"context"
	"log/slog"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/peer"

	"github.com/spillway/spillway/xds/cache"
)

// sentPerType bounds the responses remembered per stream and type: enough
// for the few a client may have in flight, after which the oldest go.
const sentPerType = 4

// streamKey names a stream; the SotW and delta servers number their streams
// separately.
type streamKey struct {
	delta bool
	id    int64
}

// sent is one response that waits for its ACK or NACK.
type sent struct {
	nonce, version string
}

// streamState is what the callbacks remember of one stream.
type streamState struct {
	nodeID string
	sent   map[string][]sent // by type URL, oldest first
}

// callbacks counts and logs what go-control-plane's servers do. A request
// answers a response when it carries that response's nonce; each response
// is counted as ACKed or NACKed once, and a NACK is logged once, however
// often the client repeats the nonce.
type callbacks struct {
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	streams map[streamKey]*streamState
}

var _ serverv3.Callbacks = (*callbacks)(nil)

func newCallbacks(log *slog.Logger, m *metrics) *callbacks {
	return &callbacks{log: log, metrics: m, streams: map[streamKey]*streamState{}}
}

// OnStreamOpen records a SotW stream.
func (c *callbacks) OnStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.open(ctx, streamKey{id: id}, typeURL)
	return nil
}

// OnDeltaStreamOpen records a delta stream.
func (c *callbacks) OnDeltaStreamOpen(ctx context.Context, id int64, typeURL string) error {
	c.open(ctx, streamKey{delta: true, id: id}, typeURL)
	return nil
}

// OnStreamClosed forgets a SotW stream.
func (c *callbacks) OnStreamClosed(id int64, node *core.Node) {
	c.close(streamKey{id: id}, node)
}

// OnDeltaStreamClosed forgets a delta stream.
func (c *callbacks) OnDeltaStreamClosed(id int64, node *core.Node) {
	c.close(streamKey{delta: true, id: id}, node)
}

// OnStreamRequest counts the ACK or NACK a SotW request carries.
func (c *callbacks) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	c.request(streamKey{id: id}, req.GetNode(), req.GetTypeUrl(),
		req.GetResponseNonce(), req.GetErrorDetail())
	return nil
}

// OnStreamDeltaRequest counts the ACK or NACK a delta request carries.
func (c *callbacks) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	c.request(streamKey{delta: true, id: id}, req.GetNode(), req.GetTypeUrl(),
		req.GetResponseNonce(), req.GetErrorDetail())
	return nil
}

// OnStreamResponse counts a SotW push.
func (c *callbacks) OnStreamResponse(
	_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse,
) {
	c.response(streamKey{id: id}, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo(),
		len(resp.GetResources()), 0)
}

// OnStreamDeltaResponse counts a delta push.
func (c *callbacks) OnStreamDeltaResponse(
	id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse,
) {
	c.response(streamKey{delta: true, id: id}, resp.GetTypeUrl(), resp.GetNonce(),
		resp.GetSystemVersionInfo(), len(resp.GetResources()), len(resp.GetRemovedResources()))
}

// OnFetchRequest accepts every REST request.
func (c *callbacks) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return nil
}

// OnFetchResponse does nothing: REST polls are not pushes.
func (c *callbacks) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}

func (c *callbacks) open(ctx context.Context, key streamKey, typeURL string) {
	c.mu.Lock()
	c.streams[key] = &streamState{sent: map[string][]sent{}}
	c.mu.Unlock()
	c.metrics.streams.Inc()

	if typeURL == "" {
		typeURL = "ads"
	}
	addr := ""
	if p, ok := peer.FromContext(ctx); ok {
		addr = p.Addr.String()
	}
	c.log.Debug("xds stream opened", "stream_id", key.id, "delta", key.delta,
		"type_url", typeURL, "peer", addr)
}

func (c *callbacks) close(key streamKey, node *core.Node) {
	c.mu.Lock()
	delete(c.streams, key)
	c.mu.Unlock()
	c.metrics.streams.Dec()
	c.log.Debug("xds stream closed", "stream_id", key.id, "delta", key.delta,
		"node_id", node.GetId())
}

// response remembers a push so that the request answering it can be told
// apart from a repeated or stale one.
func (c *callbacks) response(key streamKey, typeURL, nonce, version string, n, removed int) {
	c.mu.Lock()
	st := c.streams[key]
	nodeID := ""
	if st != nil {
		list := append(st.sent[typeURL], sent{nonce: nonce, version: version})
		if len(list) > sentPerType {
			list = list[len(list)-sentPerType:]
		}
		st.sent[typeURL] = list
		nodeID = st.nodeID
	}
	c.mu.Unlock()

	short := cache.ShortType(typeURL)
	c.metrics.pushes.WithLabelValues(short).Inc()
	c.log.Debug("xds push", "node_id", nodeID, "type_url", short, "version", version,
		"nonce", nonce, "resources", n, "removed", removed)
}

// request counts the ACK or NACK of the response whose nonce req carries.
func (c *callbacks) request(
	key streamKey, node *core.Node, typeURL, nonce string, detail *status.Status,
) {
	c.mu.Lock()
	st := c.streams[key]
	if st == nil {
		c.mu.Unlock()
		return
	}
	if node.GetId() != "" {
		st.nodeID = node.GetId()
	}
	nodeID := st.nodeID
	answered, ok := st.take(typeURL, nonce)
	c.mu.Unlock()

	if !ok {
		return
	}
	short := cache.ShortType(typeURL)
	if detail == nil {
		c.metrics.acks.WithLabelValues(short).Inc()
		return
	}
	c.metrics.nacks.WithLabelValues(short).Inc()
	c.log.Warn("xds client rejected a response", "node_id", nodeID, "type_url", typeURL,
		"version", answered.version, "nonce", answered.nonce, "err", detail.GetMessage())
}

// take removes and returns the response a nonce answers, if it is still
// waiting for an answer.
func (st *streamState) take(typeURL, nonce string) (sent, bool) {
	if nonce == "" {
		return sent{}, false
	}
	list := st.sent[typeURL]
	for i, s := range list {
		if s.nonce == nonce {
			st.sent[typeURL] = append(list[:i:i], list[i+1:]...)
			return s, true
		}
	}
	return sent{}, false
}
