package cache

import (
	"sync"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// The responses below build what the client has after them (a copy of a
// thousand-entry map for an EDS subscription) when the server asks for it,
// on the stream's goroutine, rather than while Set answers every watch one
// after another. That is safe because the map they copy, the
// subscription's ReturnedResources, changes only on that goroutine and only
// after the server asks: go-control-plane's SotW ADS server drops a pending
// response of a type before it changes that type's subscription, its
// per-type SotW server abandons the pending response's channel, and its
// delta server handles every pending response before it reads the next
// request. Nothing ever writes to the copied map.

// versionsOnce builds a version map once, on first use.
type versionsOnce struct {
	once  sync.Once
	build func() map[string]string
	out   map[string]string
}

func (v *versionsOnce) get() map[string]string {
	v.once.Do(func() {
		v.out, v.build = v.build(), nil
	})
	return v.out
}

// sotwResponse is a SotW response whose ReturnedResources is built late.
type sotwResponse struct {
	*cachev3.PassthroughResponse
	returned versionsOnce
}

// GetReturnedResources returns what the client has after the response.
func (r *sotwResponse) GetReturnedResources() map[string]string {
	return r.returned.get()
}

// deltaResponse is a delta response whose next version map is built late.
type deltaResponse struct {
	*cachev3.DeltaPassthroughResponse
	next versionsOnce
}

// GetNextVersionMap returns what the client has after the response.
func (r *deltaResponse) GetNextVersionMap() map[string]string {
	return r.next.get()
}

// GetReturnedResources returns what the client has after the response.
func (r *deltaResponse) GetReturnedResources() map[string]string {
	return r.next.get()
}
