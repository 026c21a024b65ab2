package server_test

import (
	"bytes"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// startBounded serves the test fleet with a message size and a stream
// bound, over a plaintext client connection.
func startBounded(t *testing.T, maxBytes int, maxStreams uint32) *env {
	t.Helper()
	opts := defaultOptions()
	opts.MaxMessageBytes, opts.MaxConcurrentStreams = maxBytes, maxStreams
	e := startWith(t, opts, nil)
	e.conn = e.dial(t, insecure.NewCredentials())
	e.set(t, newFleet().resources())
	return e
}

func TestOversizedRequestIsRefused(t *testing.T) {
	const limit = 1024
	e := startBounded(t, limit, 100)
	tests := []struct {
		name  string
		names []string
		want  codes.Code // OK: the request is answered
	}{
		{name: "under the bound", names: []string{"a", "b"}, want: codes.OK},
		{name: "over the bound", names: []string{"a", strings.Repeat("x", 2*limit)},
			want: codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := openADSOn(t, e.conn, &corev3.Node{Id: "sizer"})
			a.request(resource.ClusterType, tt.names, nil)
			if tt.want == codes.OK {
				if n := names(t, a.recv()); !slices.Equal(n, []string{"a", "b"}) {
					t.Errorf("got %v, want [a b]", n)
				}
				return
			}
			if err := a.failure(); status.Code(err) != tt.want {
				t.Errorf("stream ended with %v, want %v", err, tt.want)
			}
		})
	}
}

// TestStreamBoundMakesClientsWait checks what a gRPC client sees with one
// stream allowed per connection: a second stream on the same connection
// waits until the first ends, then is served.
func TestStreamBoundMakesClientsWait(t *testing.T) {
	e := startBounded(t, 4<<20, 1)
	first := openADSOn(t, e.conn, &corev3.Node{Id: "first"})
	first.request(resource.ClusterType, nil, nil)
	first.recv() // the connection is up and its one stream is taken

	opened := make(chan *adsStream, 1)
	go func() {
		// tryADS blocks inside gRPC until the stream may open.
		a, err := tryADS(t, e.conn, &corev3.Node{Id: "second"})
		if err != nil {
			t.Errorf("second stream: %v", err)
			close(opened)
			return
		}
		opened <- a
	}()
	select {
	case <-opened:
		t.Fatal("a second stream opened while the bound was taken")
	case <-time.After(quiet):
	}

	first.cancel()
	select {
	case second, ok := <-opened:
		if !ok {
			return
		}
		if err := second.sendRaw(&discovery.DiscoveryRequest{Node: second.node,
			TypeUrl: resource.ClusterType}); err != nil {
			t.Fatal(err)
		}
		if n := names(t, second.recv()); !slices.Equal(n, []string{"a", "b"}) {
			t.Errorf("second stream got %v", n)
		}
	case <-time.After(wait):
		t.Fatal("the second stream did not open after the first ended")
	}
}

// TestStreamBoundRefusedByServer speaks raw HTTP/2 to show that the
// server itself enforces the bound, whatever the client does: it
// announces it, and a stream beyond it is reset with REFUSED_STREAM.
func TestStreamBoundRefusedByServer(t *testing.T) {
	e := startBounded(t, 4<<20, 1)
	conn, err := net.DialTimeout("tcp", e.addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	fr := handshakeHTTP2(t, conn)
	if got := serverMaxStreams(t, fr); got != 1 {
		t.Fatalf("server announced MAX_CONCURRENT_STREAMS %d, want 1", got)
	}
	for _, id := range []uint32{1, 3} {
		openGRPCStream(t, fr, e.addr, id)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no RST_STREAM for the second stream: %v", err)
		}
		rst, ok := f.(*http2.RSTStreamFrame)
		if !ok {
			continue
		}
		if rst.StreamID != 3 || rst.ErrCode != http2.ErrCodeRefusedStream {
			t.Fatalf("got RST_STREAM %v on stream %d, want REFUSED_STREAM on stream 3",
				rst.ErrCode, rst.StreamID)
		}
		return
	}
}

// handshakeHTTP2 sends the client preface and empty settings.
func handshakeHTTP2(t *testing.T, conn net.Conn) *http2.Framer {
	t.Helper()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return fr
}

// serverMaxStreams reads up to the server's settings, acknowledges them
// and returns their MAX_CONCURRENT_STREAMS, or 0 when it is not set.
func serverMaxStreams(t *testing.T, fr *http2.Framer) uint32 {
	t.Helper()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's settings: %v", err)
		}
		s, ok := f.(*http2.SettingsFrame)
		if !ok || s.IsAck() {
			continue
		}
		if err := fr.WriteSettingsAck(); err != nil {
			t.Fatal(err)
		}
		v, _ := s.Value(http2.SettingMaxConcurrentStreams)
		return v
	}
}

// openGRPCStream sends the headers of an ADS call on stream id and leaves
// the stream open.
func openGRPCStream(t *testing.T, fr *http2.Framer, authority string, id uint32) {
	t.Helper()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, h := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", authority},
		{":path", "/" + discovery.AggregatedDiscoveryService_ServiceDesc.ServiceName +
			"/StreamAggregatedResources"},
		{"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: h[0], Value: h[1]}); err != nil {
			t.Fatal(err)
		}
	}
	err := fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: block.Bytes(), EndHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
}
