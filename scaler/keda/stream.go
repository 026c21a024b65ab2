package keda

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/spillway/spillway/scaler/keda/externalscaler"
)

// StreamIsActive sends the pool's activity at once and then each time it
// changes, reading the source every poll interval. While the stats are
// stale nothing is sent, so KEDA keeps the last answer. The stream ends
// when KEDA goes away or the server closes; a pool that leaves the config
// ends it with NotFound.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef,
	stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	q, err := parseRef(ref)
	if err == nil {
		s.log.Debug("keda stream opened", "scaled_object", q.ref, "pool", q.pool)
		err = s.pushActivity(q, stream)
	}
	s.observe("StreamIsActive", q, err)
	return err
}

// pushActivity is the stream's loop: read, send on change, wait.
func (s *Server) pushActivity(q query,
	stream grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	tick := time.NewTicker(s.poll)
	defer tick.Stop()

	sent, last := false, false
	for {
		sig, err := lookup(s.src, q)
		switch {
		case status.Code(err) == codes.Unavailable:
			// Stale: hold the last answer.
		case err != nil:
			return err
		case !sent || sig.Active != last:
			if err := stream.Send(&pb.IsActiveResponse{Result: sig.Active}); err != nil {
				return err
			}
			s.log.Debug("keda activity sent", "scaled_object", q.ref, "pool", q.pool,
				"active", sig.Active)
			sent, last = true, sig.Active
		}

		select {
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return nil
		case <-tick.C:
		}
	}
}
