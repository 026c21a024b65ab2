package translate

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

// baseConfig is a small valid config that error cases break one field of.
func baseConfig() *policy.Config {
	return &policy.Config{
		Path: "/etc/spillway/spillway.yaml",
		Pools: map[string]*policy.Pool{
			"gpu": {
				Service:        "inference",
				Protocol:       policy.ProtocolHTTP1,
				ConnectTimeout: 5 * time.Second,
				Balancing: policy.Balancing{Policy: policy.LeastRequest, ChoiceCount: 2,
					ActiveRequestBias: 1},
				HealthCheck: &policy.HealthCheck{Path: "/health", Interval: 15 * time.Second,
					Timeout: 5 * time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3},
			},
		},
		Listeners: []*policy.Listener{{
			Name: "public", Address: "0.0.0.0", Port: 8080,
			Routes: []*policy.Route{{Match: policy.Match{Prefix: "/"}, Pool: "gpu"}},
		}},
	}
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *policy.Config)
		wantErr []string
	}{{
		name:    "route to an unknown pool",
		change:  func(c *policy.Config) { c.Listeners[0].Routes[0].Pool = "cpu" },
		wantErr: []string{`listener 0 ("public")`, "route 0", `unknown pool "cpu"`},
	}, {
		name:    "unknown balancing policy",
		change:  func(c *policy.Config) { c.Pools["gpu"].Balancing.Policy = "random" },
		wantErr: []string{`pool "gpu"`, `unknown balancing policy "random"`},
	}, {
		name:    "unknown protocol",
		change:  func(c *policy.Config) { c.Pools["gpu"].Protocol = "http3" },
		wantErr: []string{`pool "gpu"`, `unknown protocol "http3"`},
	}, {
		name: "slow start on a consistent hash",
		change: func(c *policy.Config) {
			c.Pools["gpu"].Balancing = policy.Balancing{Policy: policy.RingHash}
			c.Pools["gpu"].SlowStart = &policy.SlowStart{Window: time.Minute}
		},
		wantErr: []string{`pool "gpu"`, "slow_start"},
	}, {
		name: "certificate files on a grpc pool",
		change: func(c *policy.Config) {
			c.Pools["gpu"].Protocol = policy.ProtocolGRPC
			c.Pools["gpu"].TLS = &policy.UpstreamTLS{CAFile: "ca.pem"}
		},
		wantErr: []string{`pool "gpu"`, "tls is not supported on a grpc pool"},
	}, {
		name:    "route with both prefix and path",
		change:  func(c *policy.Config) { c.Listeners[0].Routes[0].Match.Path = "/x" },
		wantErr: []string{"route 0", "both prefix"},
	}, {
		name:    "route with neither prefix nor path",
		change:  func(c *policy.Config) { c.Listeners[0].Routes[0].Match.Prefix = "" },
		wantErr: []string{"route 0", "neither prefix nor path"},
	}, {
		name:    "pool without definition",
		change:  func(c *policy.Config) { c.Pools["cpu"] = nil },
		wantErr: []string{`pool "cpu"`, "no definition"},
	}, {
		name:    "listener without definition",
		change:  func(c *policy.Config) { c.Listeners = append(c.Listeners, nil) },
		wantErr: []string{"listener 1", "no definition"},
	}, {
		name: "listener named like a grpc pool",
		change: func(c *policy.Config) {
			c.Pools["gpu"].Protocol = policy.ProtocolGRPC
			c.Listeners[0].Name = "gpu"
		},
		wantErr: []string{`two listeners are named "gpu"`},
	}, {
		name: "listener named like a grpc route configuration",
		change: func(c *policy.Config) {
			c.Pools["gpu"].Protocol = policy.ProtocolGRPC
			c.Listeners[0].Name = "grpc.gpu"
		},
		wantErr: []string{`two route configurations are named "grpc.gpu"`},
	}, {
		name:    "resource that fails validation",
		change:  func(c *policy.Config) { c.Pools["gpu"].HealthCheck.Interval = 0 },
		wantErr: []string{`invalid cluster "gpu"`, "Interval"},
	}, {
		name:    "listener that fails validation",
		change:  func(c *policy.Config) { c.Listeners[0].Name = "" },
		wantErr: []string{`invalid listener ""`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.change(cfg)
			res, err := Translate(cfg, discovery.NewCatalog(nil))
			if err == nil {
				t.Fatal("Translate accepted a bad config")
			}
			if res != nil {
				t.Error("Translate returned resources along with an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	if _, err := Translate(nil, nil); err == nil {
		t.Error("Translate accepted a nil config")
	}
}

func TestTranslateBaseConfigIsValid(t *testing.T) {
	if _, err := Translate(baseConfig(), nil); err != nil {
		t.Fatalf("Translate: %v", err)
	}
}

// TestTranslateDeterministic translates the same inputs, given in another
// order, and expects the same resources and the same rendered bytes.
func TestTranslateDeterministic(t *testing.T) {
	cfg, instances := benchInputs(20, 5)
	a, err := Translate(cfg, discovery.NewCatalog(instances))
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(instances)
	slices.Reverse(cfg.Listeners)
	b, err := Translate(cfg, discovery.NewCatalog(instances))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b, protocmp.Transform()); diff != "" {
		t.Errorf("resources differ (-first +second):\n%s", diff)
	}
	ra, err := a.Render("v")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Render("v")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ra, rb) {
		t.Error("rendered bytes differ between two translations of the same inputs")
	}
}

func TestTranslateSortsByName(t *testing.T) {
	cfg, instances := benchInputs(30, 2)
	res, err := Translate(cfg, discovery.NewCatalog(instances))
	if err != nil {
		t.Fatal(err)
	}
	check := func(kind string, names []string) {
		if len(names) == 0 {
			t.Errorf("no %s", kind)
		}
		if !slices.IsSorted(names) {
			t.Errorf("%s not sorted: %v", kind, names)
		}
	}
	check("clusters", namesOf(res.Clusters))
	check("listeners", namesOf(res.Listeners))
	check("api listeners", namesOf(res.APIListeners))
	check("routes", namesOf(res.Routes))
	var eds []string
	for _, e := range res.Endpoints {
		eds = append(eds, e.GetClusterName())
	}
	check("endpoints", eds)
}

func namesOf[T named](list []T) []string {
	var out []string
	for _, m := range list {
		out = append(out, m.GetName())
	}
	return out
}
