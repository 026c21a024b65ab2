package driver

import "time"

// Result is what one implementation measured in one mode. A run that
// stopped early has Err set and the phases it completed.
type Result struct {
	Impl string `json:"impl"`
	Mode string `json:"mode"`
	// PerClient is the number of resources each stream subscribes to.
	PerClient int              `json:"per_client"`
	Err       string           `json:"err,omitempty"`
	Sync      *SyncResult      `json:"sync,omitempty"`
	Changes   *ChangesResult   `json:"changes,omitempty"`
	Sustained *SustainedResult `json:"sustained,omitempty"`
}

// SyncResult is the connect storm: every stream opened at once.
type SyncResult struct {
	// Duration runs from the opening of the streams to the last stream's
	// ACK of its whole subscription.
	Duration time.Duration `json:"duration_ns"`
	// The server's live heap and RSS before the clients connected and
	// after they synced, each read after a garbage collection.
	HeapBefore uint64 `json:"heap_before"`
	HeapAfter  uint64 `json:"heap_after"`
	LiveBefore uint64 `json:"live_before"`
	LiveAfter  uint64 `json:"live_after"`
	RSSBefore  uint64 `json:"rss_before"`
	RSSAfter   uint64 `json:"rss_after"`
	// ServerCPU is the server's CPU time during the storm, and ClientCPU
	// the clients' from their start until all streams synced.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	ClientCPU time.Duration `json:"client_cpu_ns"`
	// HeapPerStream (HeapInuse), LivePerStream (the bytes a collection
	// found reachable) and RSSPerStream are the growth divided by the
	// streams; HeapPerResource divides HeapPerStream by the resources a
	// stream subscribes to.
	HeapPerStream   float64 `json:"heap_per_stream"`
	LivePerStream   float64 `json:"live_per_stream"`
	RSSPerStream    float64 `json:"rss_per_stream"`
	HeapPerResource float64 `json:"heap_per_resource"`
}

// ChangesResult is the changes applied one at a time.
type ChangesResult struct {
	// Latency runs from the server starting to apply a change to the last
	// stream's ACK of it; FirstAck to the first stream's.
	Latency  Percentiles `json:"latency"`
	FirstAck Percentiles `json:"first_ack"`
	// Apply is how long the server took to publish a change, from the
	// start of applying it to the return of Set or the last SetSnapshot.
	Apply Percentiles `json:"apply"`
	// ServerCPU and ClientCPU are the CPU times per change.
	ServerCPU time.Duration `json:"server_cpu_ns"`
	ClientCPU time.Duration `json:"client_cpu_ns"`
}

// SustainedResult is the steady rate of changes.
type SustainedResult struct {
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration_ns"`
	// Scheduled is rate × duration; Issued is how many the driver queued
	// at the server before the duration ended, fewer when it could not
	// keep the rate; Acked is how many every stream ACKed before the
	// drain timeout.
	Scheduled int `json:"scheduled"`
	Issued    int `json:"issued"`
	Acked     int `json:"acked"`
	// Latency runs from each change's scheduled time to its last ACK, so
	// it includes any wait behind earlier changes in the driver or the
	// server; a change never ACKed counts as Missing.
	Latency Percentiles `json:"latency"`
	// Window is the span over which FirstLag and LastLag are the median
	// latency of the FirstN and LastN changes scheduled at the start and
	// at the end.
	Window   time.Duration `json:"window_ns"`
	FirstLag time.Duration `json:"first_lag_ns"`
	LastLag  time.Duration `json:"last_lag_ns"`
	FirstN   int           `json:"first_n"`
	LastN    int           `json:"last_n"`
	// Publishes is how many times the server published during the phase;
	// Issued / Publishes is how many changes it coalesced into each.
	Publishes int `json:"publishes"`
	// Growing is set when the backlog grew: changes left un-issued or
	// un-ACKed, or the end's lag more than twice the start's plus 100 ms.
	Growing bool `json:"growing"`
	// ServerCores and ClientCores are the server's and the clients' CPU
	// time over the phase divided by its length.
	ServerCores float64 `json:"server_cores"`
	ClientCores float64 `json:"client_cores"`
}
