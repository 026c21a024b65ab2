package translate

import (
	"errors"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/spillway/spillway/policy"
)

// setUpstreamTLS makes Envoy speak TLS to the pool's instances, with
// certificates read from files.
func setUpstreamTLS(c *clusterv3.Cluster, cfg *policy.Config, pool *policy.Pool) error {
	t := pool.TLS
	if t == nil {
		return nil
	}
	// Proxyless gRPC clients read the same cluster, and they take TLS only
	// from certificate provider instances named in their bootstrap: a
	// cluster with certificate files would be rejected by every client.
	if pool.Protocol == policy.ProtocolGRPC {
		return errors.New("tls is not supported on a grpc pool: proxyless gRPC clients " +
			"accept only certificate providers, not certificate files")
	}
	common := commonTLS(cfg, t.CertFile, t.KeyFile, t.CAFile)
	if speaksHTTP2(pool) {
		// Servers that negotiate HTTP/2 by ALPN refuse a TLS client that
		// offers no protocol.
		common.AlpnProtocols = []string{"h2"}
	}
	ts, err := transportSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: t.SNI})
	if err != nil {
		return err
	}
	c.TransportSocket = ts
	return nil
}

// downstreamTLS returns the transport socket that terminates TLS on a
// listener; a client CA makes client certificates mandatory.
func downstreamTLS(cfg *policy.Config, t *policy.ListenerTLS) (*corev3.TransportSocket, error) {
	common := commonTLS(cfg, t.CertFile, t.KeyFile, t.ClientCAFile)
	// Offering h2 lets gRPC and other HTTP/2 clients through the listener.
	common.AlpnProtocols = []string{"h2", "http/1.1"}
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: common}
	if t.ClientCAFile != "" {
		ctx.RequireClientCertificate = wrapperspb.Bool(true)
	}
	return transportSocket(ctx)
}

// commonTLS holds a certificate pair, if given, and the CA that verifies
// the peer, if given. Relative file names are relative to the config file.
func commonTLS(cfg *policy.Config, certFile, keyFile, caFile string) *tlsv3.CommonTlsContext {
	common := &tlsv3.CommonTlsContext{}
	if certFile != "" || keyFile != "" {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: fileSource(cfg, certFile),
			PrivateKey:       fileSource(cfg, keyFile),
		}}
	}
	if caFile != "" {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{
			ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: fileSource(cfg, caFile),
			},
		}
	}
	return common
}

func fileSource(cfg *policy.Config, name string) *corev3.DataSource {
	return &corev3.DataSource{
		Specifier: &corev3.DataSource_Filename{Filename: cfg.Resolve(name)},
	}
}

func transportSocket(ctx proto.Message) (*corev3.TransportSocket, error) {
	a, err := pack(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTLS,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a},
	}, nil
}
