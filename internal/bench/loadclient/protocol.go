package loadclient

import (
	"encoding/json"
	"io"
	"sync"
)

// Commands the driver writes to the clients, one JSON object a line.
const (
	// CmdWatch asks the clients to report when every stream has ACKed
	// change Seq of Cluster. They answer EventWatching once they look for
	// it, so the driver applies the change only then.
	CmdWatch = "watch"
	// CmdStatus asks how many streams are open and synced.
	CmdStatus = "status"
	// CmdUsage asks for the CPU time the clients have used.
	CmdUsage = "usage"
)

// Events the clients write, one JSON object a line.
const (
	// EventStarted: the streams are being opened, at UnixNano.
	EventStarted = "started"
	// EventSynced: every stream has ACKed its full subscription; UnixNano
	// is when the last one did.
	EventSynced = "synced"
	// EventWatching answers CmdWatch.
	EventWatching = "watching"
	// EventAcked: every stream has ACKed a load assignment that carries
	// change Seq or a later one; FirstNano and UnixNano are the first and
	// the last of those ACKs.
	EventAcked = "acked"
	// EventStatus answers CmdStatus with Streams and Synced.
	EventStatus = "status"
	// EventUsage answers CmdUsage with CPUNanos.
	EventUsage = "usage"
	// EventError reports a failed stream; the clients stop after it.
	EventError = "error"
)

// Command is one request from the driver.
type Command struct {
	Cmd     string `json:"cmd"`
	Seq     int64  `json:"seq,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// Event is one report to the driver.
type Event struct {
	Event     string `json:"event"`
	UnixNano  int64  `json:"ns,omitempty"`
	FirstNano int64  `json:"first_ns,omitempty"`
	Seq       int64  `json:"seq,omitempty"`
	Streams   int    `json:"streams,omitempty"`
	Synced    int    `json:"synced,omitempty"`
	CPUNanos  int64  `json:"cpu_ns,omitempty"`
	Err       string `json:"err,omitempty"`
}

// eventWriter writes events from many streams, one whole line at a time.
type eventWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

func newEventWriter(w io.Writer) *eventWriter {
	return &eventWriter{enc: json.NewEncoder(w)}
}

// write sends ev; after a failed write the rest are dropped, since the
// driver is gone.
func (w *eventWriter) write(ev Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.enc.Encode(ev)
	}
}
