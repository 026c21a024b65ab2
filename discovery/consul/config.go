package consul

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-cleanhttp"

	"github.com/spillway/spillway/discovery"
	"github.com/spillway/spillway/policy"
)

// Defaults applied by New to a zero Config.
const (
	// DefaultAddress is the agent's HTTP API when neither Address nor
	// CONSUL_HTTP_ADDR names one.
	DefaultAddress = "127.0.0.1:8500"
	// DefaultWaitTime bounds each blocking query: Consul's own default.
	DefaultWaitTime = 5 * time.Minute
	// MaxWaitTime is the longest blocking query Consul agents allow by
	// default (limits.max_query_time); longer waits are cut to it.
	MaxWaitTime = 10 * time.Minute
)

// Environment variables read when the Config leaves a field empty. They are
// the ones the consul command line reads.
const (
	envAddr      = api.HTTPAddrEnvName      // CONSUL_HTTP_ADDR
	envToken     = api.HTTPTokenEnvName     // CONSUL_HTTP_TOKEN
	envTokenFile = api.HTTPTokenFileEnvName // CONSUL_HTTP_TOKEN_FILE
)

const redacted = "[redacted]"

// Config configures the Consul source. Its String, GoString and LogValue
// methods never show the token, so the whole value may be printed or
// logged.
type Config struct {
	// Address is host:port or a URL (http://, https://, unix://) of the
	// Consul HTTP API. Empty means CONSUL_HTTP_ADDR, else DefaultAddress.
	Address string
	// Datacenter to query; empty means the agent's own.
	Datacenter string
	// Token is the ACL token. Empty means the content of TokenFile, else
	// of the file named by CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN.
	Token     string
	TokenFile string
	// TLS configures HTTPS; setting any of its fields selects HTTPS.
	TLS TLS
	// WaitTime bounds each blocking query; zero means DefaultWaitTime.
	WaitTime time.Duration
	// Stale lets any server answer, trading freshness for load.
	Stale bool
	// Selectors name the services to watch. Tags are not applied here:
	// each selected service is watched once, whole, and pools pick their
	// instances from the catalog by tag.
	Selectors []discovery.Selector
}

// TLS configures HTTPS to the Consul agent.
type TLS struct {
	CAFile   string
	CertFile string
	KeyFile  string
	// ServerName is the name expected in the agent's certificate (SNI).
	ServerName         string
	InsecureSkipVerify bool
}

// FromPolicy returns the Config for the consul section of a policy file
// and the selectors of its pools. p may be nil, meaning all defaults.
func FromPolicy(p *policy.ConsulDiscovery, selectors []discovery.Selector) Config {
	if p == nil {
		return Config{Selectors: selectors}
	}
	c := Config{
		Address:    p.Address,
		Datacenter: p.Datacenter,
		TokenFile:  p.TokenFile,
		WaitTime:   p.WaitTime,
		Stale:      p.Stale,
		Selectors:  selectors,
	}
	if t := p.TLS; t != nil {
		c.TLS = TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile,
			ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	}
	return c
}

func (t TLS) enabled() bool {
	return t != TLS{}
}

// services returns the distinct service names the selectors name, sorted.
func (c Config) services() ([]string, error) {
	var out []string
	for i, s := range c.Selectors {
		if strings.TrimSpace(s.Service) == "" {
			return nil, fmt.Errorf("selector %d: empty service name", i)
		}
		out = append(out, s.Service)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (c Config) address() string {
	switch {
	case c.Address != "":
		return c.Address
	case os.Getenv(envAddr) != "":
		return os.Getenv(envAddr)
	default:
		return DefaultAddress
	}
}

func (c Config) waitTime() time.Duration {
	switch {
	case c.WaitTime <= 0:
		return DefaultWaitTime
	case c.WaitTime > MaxWaitTime:
		return MaxWaitTime
	default:
		return c.WaitTime
	}
}

// token resolves the ACL token. Errors name the file, never its content.
func (c Config) token() (string, error) {
	switch {
	case c.Token != "":
		return c.Token, nil
	case c.TokenFile != "":
		return readToken(c.TokenFile)
	case os.Getenv(envTokenFile) != "":
		return readToken(os.Getenv(envTokenFile))
	default:
		return os.Getenv(envToken), nil
	}
}

func readToken(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading consul token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("reading consul token file %s: the file is empty", path)
	}
	return token, nil
}

// client builds the API client and returns its transport too, so that Run
// can close idle connections when it ends.
func (c Config) client() (*api.Client, *http.Transport, error) {
	token, err := c.token()
	if err != nil {
		return nil, nil, err
	}
	tr := cleanhttp.DefaultPooledTransport()
	ac := &api.Config{
		Address:    c.address(),
		Datacenter: c.Datacenter,
		Token:      token,
		Transport:  tr,
		TLSConfig: api.TLSConfig{
			Address:            c.TLS.ServerName,
			CAFile:             c.TLS.CAFile,
			CertFile:           c.TLS.CertFile,
			KeyFile:            c.TLS.KeyFile,
			InsecureSkipVerify: c.TLS.InsecureSkipVerify,
		},
	}
	if c.TLS.enabled() {
		ac.Scheme = "https"
	}
	client, err := api.NewClient(ac)
	if err != nil {
		// The api package's errors name files and addresses only.
		return nil, nil, fmt.Errorf("creating consul client for %s: %w", ac.Address, err)
	}
	return client, tr, nil
}

// String describes the config with the token redacted.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("consul{")
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%v", a.Key, a.Value)
	}
	b.WriteString("}")
	return b.String()
}

// GoString makes %#v print the same redacted form as String.
func (c Config) GoString() string {
	return c.String()
}

// LogValue logs the config as a group, with the token redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// tokenSource says where the token comes from, in the order token()
// looks, without reading or revealing it.
func (c Config) tokenSource() string {
	switch {
	case c.Token != "":
		return "inline " + redacted
	case c.TokenFile != "":
		return "file"
	case os.Getenv(envTokenFile) != "":
		return "env " + envTokenFile
	case os.Getenv(envToken) != "":
		return "env " + envToken
	}
	return "none"
}

func (c Config) attrs() []slog.Attr {
	token := c.tokenSource()
	services := make([]string, 0, len(c.Selectors))
	for _, s := range c.Selectors {
		services = append(services, s.Service)
	}
	return []slog.Attr{
		slog.String("address", c.Address),
		slog.String("datacenter", c.Datacenter),
		slog.String("token", token),
		slog.String("token_file", c.TokenFile),
		slog.Bool("tls", c.TLS.enabled()),
		slog.Duration("wait_time", c.WaitTime),
		slog.Bool("stale", c.Stale),
		slog.Any("services", services),
	}
}
