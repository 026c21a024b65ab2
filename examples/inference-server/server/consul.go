package server

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/consul/api"
)

// Consul check timing: the agent probes readiness often enough that a
// full queue or a drain shows within seconds; an instance that crashed is
// forgotten after ten minutes of failing.
const (
	consulCheckInterval   = "5s"
	consulCheckTimeout    = "2s"
	consulDeregisterAfter = "10m"
)

// ConsulService returns the registration of an instance listening on addr
// (host:port, the host an address others can reach) as service. Its ID is
// Options.Name, its tag "gpu" or "cpu" (what Spillway's pools select on),
// its meta "gpu" the class (what Spillway weighs by), and its check an
// HTTP probe of /health/ready.
func ConsulService(opts Options, service, addr string) (*api.AgentServiceRegistration, error) {
	opts = opts.withDefaults()
	host, port, err := splitAddr(addr)
	if err != nil {
		return nil, err
	}
	tag := "gpu"
	if opts.GPU == GPUCPU {
		tag = "cpu"
	}
	hostPort := net.JoinHostPort(host, strconv.Itoa(port))
	return &api.AgentServiceRegistration{
		ID:      opts.Name,
		Name:    service,
		Tags:    []string{tag},
		Address: host,
		Port:    port,
		Meta:    map[string]string{"gpu": opts.GPU},
		Check: &api.AgentServiceCheck{
			CheckID:                        opts.Name + ":ready",
			Name:                           "readiness",
			HTTP:                           "http://" + hostPort + "/health/ready",
			Interval:                       consulCheckInterval,
			Timeout:                        consulCheckTimeout,
			DeregisterCriticalServiceAfter: consulDeregisterAfter,
		},
	}, nil
}

func splitAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("registering %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "", 0, fmt.Errorf("registering %q: the host must be an address others can "+
			"reach, not a wildcard", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("registering %q: bad port %q", addr, portText)
	}
	return host, port, nil
}

// ConsulRegistration is an instance's entry in its local Consul agent.
type ConsulRegistration struct {
	agent *api.Agent
	id    string
}

// RegisterConsul registers reg with the Consul agent at address
// (host:port; the token and TLS settings come from the usual CONSUL_*
// environment variables).
func RegisterConsul(
	ctx context.Context, address string, reg *api.AgentServiceRegistration,
) (*ConsulRegistration, error) {
	cfg := api.DefaultConfig()
	cfg.Address = address
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to Consul at %s: %w", address, err)
	}
	agent := client.Agent()
	if err := agent.ServiceRegisterOpts(reg, api.ServiceRegisterOpts{}.WithContext(ctx)); err != nil {
		return nil, fmt.Errorf("registering %s in Consul at %s: %w", reg.ID, address, err)
	}
	return &ConsulRegistration{agent: agent, id: reg.ID}, nil
}

// Drain puts the instance into maintenance, which Spillway publishes as
// DRAINING: Envoy sends it nothing new while its requests finish.
func (r *ConsulRegistration) Drain(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.agent.EnableServiceMaintenanceOpts(r.id, "shutting down", q); err != nil {
		return fmt.Errorf("draining %s in Consul: %w", r.id, err)
	}
	return nil
}

// Deregister removes the instance from Consul.
func (r *ConsulRegistration) Deregister(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.agent.ServiceDeregisterOpts(r.id, q); err != nil {
		return fmt.Errorf("deregistering %s from Consul: %w", r.id, err)
	}
	return nil
}
