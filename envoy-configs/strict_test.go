package envoyconfigs

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Paths into the shipped files, as steps for set.
var (
	xdsCluster  = []any{"static_resources", "clusters", 0}
	httpOptions = at(xdsCluster, "typed_extension_protocol_options", httpOptionsKey)
	tlsContext  = at(xdsCluster, "transport_socket", "typed_config")
)

// at returns base followed by more, without sharing base's array.
func at(base []any, more ...any) []any {
	return append(base[:len(base):len(base)], more...)
}

// TestChecksAreStrict breaks one thing at a time in a copy of a shipped
// file and expects the right stage to reject it for the right reason. The
// cases of stage deep pass the Bootstrap's own ValidateAll: only the walk
// into the packed configs catches them.
func TestChecksAreStrict(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		path      []any
		value     any
		wantStage string
		wantErr   string
	}{
		{"unknown top-level field", "demo.yaml",
			[]any{"admin_typo"}, true, stageDecode, "admin_typo"},
		{"unknown field in a packed config", "demo.yaml",
			at(httpOptions, "explicit_http_config", "http2_options"), map[string]any{},
			stageDecode, "http2_options"},
		{"unknown enum value", "demo.yaml",
			[]any{"dynamic_resources", "ads_config", "api_type"}, "GRPCC",
			stageDecode, "GRPCC"},
		{"unregistered packed type", "demo.yaml",
			at(httpOptions, "@type"), "type.googleapis.com/spillway.NoSuchType",
			stageDecode, "NoSuchType"},
		{"duration that is not a duration", "demo.yaml",
			at(xdsCluster, "connect_timeout"), "1 second", stageDecode, "1 second"},
		{"negative connect timeout", "demo.yaml",
			at(xdsCluster, "connect_timeout"), "-1s", stageValidate, "ConnectTimeout"},
		{"empty ADS cluster name", "demo.yaml",
			[]any{"dynamic_resources", "ads_config", "grpc_services", 0, "envoy_grpc",
				"cluster_name"}, "", stageValidate, "ClusterName"},
		{"admin port out of range", "production.yaml",
			[]any{"admin", "address", "socket_address", "port_value"}, 70000,
			stageValidate, "PortValue"},
		{"zero histogram bucket", "demo.yaml",
			[]any{"stats_config", "histogram_bucket_settings", 0, "buckets"}, []any{0, 10},
			stageValidate, "Buckets"},
		{"overload threshold above 1", "production.yaml",
			[]any{"overload_manager", "actions", 0, "triggers", 0, "threshold", "value"}, 1.5,
			stageValidate, "Value"},
		{"zero HTTP/2 keepalive timeout, packed", "demo.yaml",
			at(httpOptions, "explicit_http_config", "http2_protocol_options",
				"connection_keepalive", "timeout"), "0s", stageDeep, "Timeout"},
		{"SNI over 255 bytes, packed", "production.yaml",
			at(tlsContext, "sni"), strings.Repeat("a", 256), stageDeep, "Sni"},
		{"deprecated field", "production.yaml",
			at(xdsCluster, "dns_refresh_rate"), "30s", stageObsolete, "dns_refresh_rate"},
		{"deprecated field, packed", "production.yaml",
			at(tlsContext, "common_tls_context", "validation_context", "match_subject_alt_names"),
			[]any{map[string]any{"exact": "spillway.internal"}},
			stageObsolete, "match_subject_alt_names"},
		{"deprecated enum value", "demo.yaml",
			[]any{"dynamic_resources", "lds_config", "resource_api_version"}, "V2",
			stageObsolete, "V2"},
		{"no connection limit, packed", "production.yaml",
			[]any{"overload_manager", "resource_monitors", 1, "typed_config",
				"max_active_downstream_connections"}, 0,
			stageDeep, "MaxActiveDownstreamConnections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := readTree(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			set(t, tree, tt.value, tt.path...)

			stage, err := check(tree)
			if stage != tt.wantStage {
				t.Fatalf("rejected at stage %q (%v), want stage %q", stage, err, tt.wantStage)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

// TestValidateDeepRejectsUnknownAny covers what the decoder already stops
// in files but a message built in code can hold: an Any of a type that is
// not linked in, which validateDeep must not wave through.
func TestValidateDeepRejectsUnknownAny(t *testing.T) {
	msg := &corev3.TypedExtensionConfig{
		Name:        "spillway.test",
		TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/spillway.NoSuchType"},
	}
	if err := msg.ValidateAll(); err != nil {
		t.Fatalf("ValidateAll: %v; the case needs a message that passes it", err)
	}
	err := validateDeep(msg)
	if err == nil || !strings.Contains(err.Error(), "spillway.NoSuchType") {
		t.Fatalf("validateDeep = %v, want an error naming spillway.NoSuchType", err)
	}
}

// TestJSONTreeRejectsNonStringKeys covers keys that JSON cannot carry.
func TestJSONTreeRejectsNonStringKeys(t *testing.T) {
	tree := map[string]any{"admin": map[any]any{"address": 1, 9901: "port"}}
	if _, err := jsonTree(tree); err == nil || !strings.Contains(err.Error(), "9901") {
		t.Fatalf("jsonTree = %v, want an error naming key 9901", err)
	}
}

// set replaces the value at path (map keys and list indexes) in tree;
// the last step may add a new key.
func set(t *testing.T, tree, value any, path ...any) {
	t.Helper()
	cur := tree
	for i, step := range path {
		last := i == len(path)-1
		switch step := step.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping", path[:i])
			}
			if last {
				m[step] = value
				return
			}
			if cur, ok = m[step]; !ok {
				t.Fatalf("%v: no key %q", path[:i], step)
			}
		case int:
			l, ok := cur.([]any)
			if !ok || step >= len(l) {
				t.Fatalf("%v: no element %d", path[:i], step)
			}
			if last {
				l[step] = value
				return
			}
			cur = l[step]
		}
	}
}
