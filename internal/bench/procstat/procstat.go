// Package procstat reads what the load harness reports of its own
// processes: CPU time, live heap and resident memory.
package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

// Usage is one reading of a process's resources.
type Usage struct {
	// CPU is user plus system time since the process started.
	CPU time.Duration `json:"cpu_ns"`
	// HeapInuse is runtime.MemStats.HeapInuse, in bytes: the heap's spans
	// in use, free slots within them included.
	HeapInuse uint64 `json:"heap_inuse"`
	// HeapLive is the bytes the last garbage collection found reachable.
	HeapLive uint64 `json:"heap_live"`
	// RSS is VmRSS from /proc/self/status, in bytes.
	RSS uint64 `json:"rss"`
}

// Read returns the process's usage. With gc it collects garbage first, so
// that the heap is what is live rather than what awaits collection. It
// collects twice: pooled buffers (gRPC keeps its send buffers in
// sync.Pools) survive one collection as the pools' victims and are freed
// by the second, and they belong to no stream.
func Read(gc bool) (Usage, error) {
	if gc {
		runtime.GC()
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpu, err := CPUTime()
	if err != nil {
		return Usage{}, err
	}
	rss, err := RSS()
	if err != nil {
		return Usage{}, err
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	u := Usage{CPU: cpu, HeapInuse: ms.HeapInuse, RSS: rss}
	if live[0].Value.Kind() == metrics.KindUint64 {
		u.HeapLive = live[0].Value.Uint64()
	}
	return u, nil
}

// CPUTime is the process's user plus system time, from getrusage.
func CPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading rusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// RSS is the process's resident set size.
func RSS() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading resident memory: %w", err)
	}
	return parseRSS(data)
}

// parseRSS reads the VmRSS line of a /proc/<pid>/status file.
func parseRSS(status []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 2 || string(fields[0]) != "VmRSS:" {
			continue
		}
		kb, err := strconv.ParseUint(string(fields[1]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading resident memory: VmRSS %q: %w", fields[1], err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("reading resident memory: no VmRSS line")
}
