package translate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// rendered is the document Render writes. Field order is fixed by the
// struct, and each resource list keeps the Resources order.
type rendered struct {
	Version   string            `json:"version"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
}

// Render returns the resources as one indented JSON object with the proto
// field names: {"version", "listeners", "routes", "clusters",
// "endpoints"}, where listeners are the Envoy listeners followed by the API
// listeners. The output is byte-for-byte deterministic, which golden tests
// and diffs rely on.
func (r *Resources) Render(version string) ([]byte, error) {
	doc := rendered{Version: version}
	var err error
	if doc.Listeners, err = marshalAll(r.Listeners, r.APIListeners); err != nil {
		return nil, err
	}
	if doc.Routes, err = marshalAll(r.Routes); err != nil {
		return nil, err
	}
	if doc.Clusters, err = marshalAll(r.Clusters); err != nil {
		return nil, err
	}
	if doc.Endpoints, err = marshalAll(r.Endpoints); err != nil {
		return nil, err
	}

	compact, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rendering resources: %w", err)
	}
	// protojson varies its whitespace on purpose; encoding/json drops it
	// all and indents the document the same way every time.
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("rendering resources: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// marshalAll marshals each message of each list, in order. It never
// returns nil, so that an empty list renders as [].
func marshalAll[T proto.Message](lists ...[]T) ([]json.RawMessage, error) {
	opts := protojson.MarshalOptions{UseProtoNames: true}
	out := []json.RawMessage{}
	for _, list := range lists {
		for _, m := range list {
			b, err := opts.Marshal(m)
			if err != nil {
				return nil, fmt.Errorf("rendering %s %q: %w",
					m.ProtoReflect().Descriptor().Name(), resourceName(m), err)
			}
			out = append(out, b)
		}
	}
	return out, nil
}
