package scaler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
)

// errNoEnvoys is the answer of a question only the Envoys' admin APIs can
// answer when there is none to ask.
var errNoEnvoys = errors.New("no envoy admin to ask for the hosts' requests")

// EnvoyAdmins returns the admin endpoints of the passing instances of
// service, sorted: each instance's address (its service address, else its
// node's) with adminPort, or with its registered port when adminPort is 0.
// An instance in maintenance or failing a check is left out, as Consul
// leaves it out of a passing-only query.
func (c *Consul) EnvoyAdmins(ctx context.Context, service string, adminPort int) ([]string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := c.client.Health().Service(service, "", true, q)
	if err != nil {
		return nil, fmt.Errorf("reading envoy service %s from consul: %w", service, err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Node == nil || e.Service == nil {
			continue
		}
		port := cmp.Or(adminPort, e.Service.Port)
		out = append(out, net.JoinHostPort(cmp.Or(e.Service.Address, e.Node.Address),
			strconv.Itoa(port)))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// current returns the Envoys of the latest list.
func (s *Scraper) current() []*envoyState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.envoys
}

// refreshEnvoys replaces the list of Envoys with ListEnvoys' answer, if
// there is a ListEnvoys. An Envoy that stays on the list keeps its last
// scrapes, for its counters' deltas; one that joins starts without, as at
// startup. On failure the old list stays.
func (s *Scraper) refreshEnvoys(ctx context.Context) error {
	if s.cfg.ListEnvoys == nil {
		return nil
	}
	admins, err := s.cfg.ListEnvoys(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.listErr == nil {
			s.cfg.Logger.Warn("cannot list the envoys; keeping the last list", "err", err)
		}
		s.listErr = err
		return fmt.Errorf("listing envoys: %w", err)
	}
	s.listErr = nil
	byAdmin := make(map[string]*envoyState, len(s.envoys))
	for _, e := range s.envoys {
		byAdmin[e.admin] = e
	}
	next := make([]*envoyState, 0, len(admins))
	for _, a := range admins {
		e := byAdmin[a]
		if e == nil {
			e = &envoyState{admin: a}
		}
		next = append(next, e)
	}
	if !sameAdmins(s.envoys, next) {
		s.cfg.Logger.Info("envoys listed", "admins", strings.Join(admins, ","))
	}
	s.envoys = next
	return nil
}

func sameAdmins(a, b []*envoyState) bool {
	return slices.EqualFunc(a, b, func(x, y *envoyState) bool { return x.admin == y.admin })
}
