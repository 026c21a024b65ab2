package cache

import (
	"encoding/binary"
	"hash/maphash"
)

// ResourceNames is the resource_names of a state-of-the-world request. A
// client repeats its whole list in every request, a thousand names in an
// Envoy's ACK of endpoints, and the list rarely changes; a server that
// reads requests off the wire can hand the cache the list's size and Sum
// and decode the names only when they differ from the last list.
type ResourceNames interface {
	// Len is the number of names, "*" included.
	Len() int
	// Sum is NameSum of the names in order.
	Sum() uint64
	// Decode returns the names in order.
	Decode() ([]string, error)
}

// nameSeed seeds Sum; a list's sum is the same for the life of the
// process, which is as long as a stream keeps one.
var nameSeed = maphash.MakeSeed()

// NameSum sums a list of names, each written to h by WriteName. Two lists
// with equal sums and lengths are taken to be equal: with a 64-bit seeded
// hash, a collision that would hide a change of subscription is far less
// likely than a corrupt packet.
type NameSum struct {
	h maphash.Hash
}

// NewNameSum starts a sum.
func NewNameSum() *NameSum {
	s := &NameSum{}
	s.h.SetSeed(nameSeed)
	return s
}

// WriteName adds a name, length first so that ["ab", "c"] and ["a", "bc"]
// differ.
func (s *NameSum) WriteName(name []byte) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(name)))
	s.h.Write(n[:])
	s.h.Write(name)
}

// WriteString is WriteName of a string.
func (s *NameSum) WriteString(name string) {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(name)))
	s.h.Write(n[:])
	s.h.WriteString(name)
}

// Sum64 is the sum of the names written.
func (s *NameSum) Sum64() uint64 {
	return s.h.Sum64()
}

// decodedNames is a list already decoded, as in a request a server got
// from the generated gRPC code.
type decodedNames []string

func (d decodedNames) Len() int                  { return len(d) }
func (d decodedNames) Decode() ([]string, error) { return d, nil }
func (d decodedNames) Sum() uint64 {
	s := NewNameSum()
	for _, name := range d {
		s.WriteString(name)
	}
	return s.Sum64()
}
