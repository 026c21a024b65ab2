package translate

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// unregistered is an Any whose type no package in this binary registers.
var unregistered = &anypb.Any{TypeUrl: "type.googleapis.com/spillway.test.NotRegistered"}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		// wantErr lists substrings of the error; none means valid.
		wantErr []string
	}{{
		name: "valid listener with nested Anys",
		msg:  listenerWithHCM(t, validHCM(t)),
	}, {
		name: "invalid field inside a packed connection manager",
		msg: listenerWithHCM(t, func() *hcmv3.HttpConnectionManager {
			hcm := validHCM(t)
			hcm.StatPrefix = "" // must not be empty
			return hcm
		}()),
		wantErr: []string{"filter_chains[0]: filters[0]: typed_config",
			"HttpConnectionManager", "StatPrefix"},
	}, {
		name: "unregistered type two Anys deep",
		msg: listenerWithHCM(t, func() *hcmv3.HttpConnectionManager {
			hcm := validHCM(t)
			hcm.HttpFilters[0].ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: unregistered}
			return hcm
		}()),
		wantErr: []string{"http_filters[0]: typed_config", "spillway.test.NotRegistered", "not found"},
	}, {
		name: "unregistered type in a transport socket",
		msg: &clusterv3.Cluster{Name: "c", TransportSocket: &corev3.TransportSocket{
			Name:       "envoy.transport_sockets.tls",
			ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: unregistered},
		}},
		wantErr: []string{"transport_socket: typed_config", "not found"},
	}, {
		name: "invalid message in a map of Anys",
		msg: &clusterv3.Cluster{Name: "c", TypedExtensionProtocolOptions: map[string]*anypb.Any{
			// The upstream protocol choice is required.
			httpProtocolOptionsKey: mustPack(t, &upstreamhttpv3.HttpProtocolOptions{}),
		}},
		wantErr: []string{`typed_extension_protocol_options["` + httpProtocolOptionsKey + `"]`,
			"UpstreamProtocolOptions"},
	}, {
		name: "bytes that are not the named type",
		msg: &clusterv3.Cluster{Name: "c", TypedExtensionProtocolOptions: map[string]*anypb.Any{
			"x": {TypeUrl: "type.googleapis.com/" + string(
				(&upstreamhttpv3.HttpProtocolOptions{}).ProtoReflect().Descriptor().FullName()),
				Value: []byte{0xff, 0xff, 0xff}},
		}},
		wantErr: []string{"unpacking"},
	}, {
		name:    "nil message",
		msg:     (*clusterv3.Cluster)(nil),
		wantErr: []string{"no message"},
	}, {
		name:    "invalid outer message",
		msg:     &clusterv3.Cluster{},
		wantErr: []string{"Name"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.msg)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid message")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestValidateReachesInsideAny shows why Validate exists: the generated
// ValidateAll alone accepts a listener whose packed config is invalid.
func TestValidateReachesInsideAny(t *testing.T) {
	hcm := validHCM(t)
	hcm.StatPrefix = ""
	lis := listenerWithHCM(t, hcm)
	if err := lis.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll looked inside the Any after all: %v", err)
	}
	if err := Validate(lis); err == nil {
		t.Fatal("Validate accepted an invalid packed connection manager")
	}
}

func validHCM(t *testing.T) *hcmv3.HttpConnectionManager {
	hcm, err := httpConnectionManager("stats", "routes")
	if err != nil {
		t.Fatal(err)
	}
	return hcm
}

func listenerWithHCM(t *testing.T, hcm *hcmv3.HttpConnectionManager) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:    "l",
		Address: socketAddress("0.0.0.0", 8080),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustPack(t, hcm)},
		}}}},
	}
}

func mustPack(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := pack(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
