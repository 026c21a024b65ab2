package scaler

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/consul/api"

	"github.com/spillway/spillway/discovery"
)

// defaultAgentPort is the port of an agent's HTTP API when the configured
// address names none.
const defaultAgentPort = "8500"

// Consul is the Registry of a Consul cluster. It reads pools through the
// configured agent. Maintenance mode is a property of the agent that
// registered a service, so it is set through that node's agent: the
// configured one for services registered with it (as in a dev agent), and
// for other nodes the agent at the node's address on the configured
// agent's port, with the same token and TLS settings. That needs every
// agent's HTTP API to be reachable from the scaler, which Consul's default
// client_addr of 127.0.0.1 does not allow.
type Consul struct {
	base   api.Config
	client *api.Client

	mu     sync.Mutex
	local  string                 // the configured agent's node name, once known
	agents map[string]*api.Client // other nodes' agents, by address
}

var _ Registry = (*Consul)(nil)

// NewConsul returns the registry of the agent cfg names. cfg is copied.
func NewConsul(cfg api.Config) (*Consul, error) {
	client, err := api.NewClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("creating consul client for %s: %w", cfg.Address, err)
	}
	return &Consul{base: cfg, client: client, agents: make(map[string]*api.Client)}, nil
}

// Client returns the client of the configured agent, for leader election.
func (c *Consul) Client() *api.Client { return c.client }

// Members implements Registry with one health query, tags filtered by
// Consul.
func (c *Consul) Members(ctx context.Context, sel discovery.Selector) ([]Member, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := c.client.Health().ServiceMultipleTags(sel.Service, sel.Tags, false, q)
	if err != nil {
		return nil, fmt.Errorf("reading service %s from consul: %w", sel.Service, err)
	}
	out := make([]Member, 0, len(entries))
	for _, e := range entries {
		if e == nil || e.Node == nil || e.Service == nil {
			continue
		}
		out = append(out, member(e))
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func member(e *api.ServiceEntry) Member {
	svc, node := e.Service, e.Node
	m := Member{
		ID:          node.Node + "/" + svc.ID,
		ServiceID:   svc.ID,
		Node:        node.Node,
		NodeAddress: node.Address,
		Address:     net.JoinHostPort(cmp.Or(svc.Address, node.Address), strconv.Itoa(svc.Port)),
		Health:      discovery.HealthPassing,
	}
	for _, ck := range e.Checks {
		m.observe(ck)
	}
	return m
}

// observe folds one check into the member's health as discovery/consul
// does: maintenance wins, else the worst status; an unknown status counts
// as critical.
func (m *Member) observe(ck *api.HealthCheck) {
	switch {
	case ck == nil:
	case ck.CheckID == api.ServiceMaintPrefix+m.ServiceID:
		m.Health = discovery.HealthMaintenance
		m.MaintenanceReason = ck.Notes
	case ck.CheckID == api.NodeMaint:
		m.Health = discovery.HealthMaintenance
	case m.Health == discovery.HealthMaintenance:
	case ck.Status == api.HealthPassing:
	case ck.Status == api.HealthWarning:
		m.Health = max(m.Health, discovery.HealthWarning)
	default:
		m.Health = max(m.Health, discovery.HealthCritical)
	}
}

// SetMaintenance implements Registry through the agent of m's node.
func (c *Consul) SetMaintenance(ctx context.Context, m Member, on bool) error {
	agent, err := c.agent(m)
	if err != nil {
		return err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	if on {
		err = agent.EnableServiceMaintenanceOpts(m.ServiceID, DrainReason, q)
	} else {
		err = agent.DisableServiceMaintenanceOpts(m.ServiceID, q)
	}
	if err != nil {
		return fmt.Errorf("setting maintenance %v on %s: %w", on, m.ID, err)
	}
	return nil
}

// agent returns the agent API of m's node.
func (c *Consul) agent(m Member) (*api.Agent, error) {
	local, err := c.localNode()
	if err != nil {
		return nil, err
	}
	if m.Node == local {
		return c.client.Agent(), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	addr, err := c.agentAddress(m.NodeAddress)
	if err != nil {
		return nil, fmt.Errorf("reaching the agent of node %s: %w", m.Node, err)
	}
	if cl := c.agents[addr]; cl != nil {
		return cl.Agent(), nil
	}
	cfg := c.base
	cfg.Address = addr
	cfg.HttpClient = nil // the configured one may dial a unix socket
	cl, err := api.NewClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("creating consul client for node %s at %s: %w", m.Node, addr, err)
	}
	c.agents[addr] = cl
	return cl.Agent(), nil
}

// localNode returns the configured agent's node name, read once. The API
// has no context for this call; it is a plain local read.
func (c *Consul) localNode() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local != "" {
		return c.local, nil
	}
	name, err := c.client.Agent().NodeName()
	if err != nil {
		return "", fmt.Errorf("reading the consul agent's node name: %w", err)
	}
	c.local = name
	return name, nil
}

// agentAddress is the HTTP API of the agent at host, on the port of the
// configured agent; api.NewClient has stripped its scheme. An agent
// reached through a unix socket names no port: Consul's default applies.
func (c *Consul) agentAddress(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("the node has no address")
	}
	port := defaultAgentPort
	if _, p, err := net.SplitHostPort(c.base.Address); err == nil && p != "" {
		port = p
	}
	return net.JoinHostPort(host, port), nil
}
