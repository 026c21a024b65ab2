package loadclient

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// events decodes what a tracker wrote.
func events(t *testing.T, b *bytes.Buffer) []Event {
	t.Helper()
	var out []Event
	dec := json.NewDecoder(b)
	for dec.More() {
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

func TestTrackerReportsChangeOnceAllStreamsAck(t *testing.T) {
	type ack struct {
		stream  int
		cluster string
		marker  int64
		at      int64
	}
	tests := []struct {
		name    string
		watches map[int64]string
		acks    []ack
		want    []Event
	}{
		{
			name:    "every stream acks",
			watches: map[int64]string{1: "a"},
			acks:    []ack{{0, "a", 1, 10}, {2, "a", 1, 30}, {1, "a", 1, 20}},
			want:    []Event{{Event: EventAcked, Seq: 1, FirstNano: 10, UnixNano: 30}},
		},
		{
			name:    "a repeated ack counts once",
			watches: map[int64]string{1: "a"},
			acks:    []ack{{0, "a", 1, 10}, {0, "a", 1, 11}, {1, "a", 1, 12}},
			want:    nil,
		},
		{
			name:    "an older version or another cluster does not count",
			watches: map[int64]string{5: "a"},
			acks:    []ack{{0, "a", 4, 10}, {1, "b", 5, 10}, {2, "a", 0, 10}},
			want:    nil,
		},
		{
			name:    "a later change covers an earlier one",
			watches: map[int64]string{1: "a", 2: "a"},
			acks:    []ack{{0, "a", 2, 10}, {1, "a", 2, 11}, {2, "a", 1, 12}, {2, "a", 2, 13}},
			want: []Event{
				{Event: EventAcked, Seq: 1, FirstNano: 10, UnixNano: 12},
				{Event: EventAcked, Seq: 2, FirstNano: 10, UnixNano: 13},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tr := newTracker(3, newEventWriter(&out))
			for seq := int64(1); seq <= 5; seq++ {
				if cluster, ok := tt.watches[seq]; ok {
					tr.watch(seq, cluster)
				}
			}
			events(t, &out) // the watching answers
			for _, a := range tt.acks {
				tr.acked(a.stream, a.cluster, a.marker, a.at)
			}
			if diff := cmp.Diff(tt.want, events(t, &out)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrackerForgetsReportedClusters(t *testing.T) {
	var out bytes.Buffer
	tr := newTracker(1, newEventWriter(&out))
	tr.watch(1, "a")
	if !tr.watching("a") || !tr.watchingBytes([]byte("a")) || tr.watching("b") {
		t.Fatal("watched set wrong after watch")
	}
	tr.acked(0, "a", 1, 5)
	if tr.watching("a") {
		t.Error("cluster still watched after its change was reported")
	}
}

func TestTrackerSynced(t *testing.T) {
	var out bytes.Buffer
	tr := newTracker(2, newEventWriter(&out))
	tr.streamSynced(20)
	if got := events(t, &out); len(got) != 0 {
		t.Fatalf("synced reported after one of two streams: %v", got)
	}
	tr.streamSynced(10)
	want := []Event{{Event: EventSynced, UnixNano: 20, Streams: 2, Synced: 2}}
	if diff := cmp.Diff(want, events(t, &out)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
