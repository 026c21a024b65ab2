package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/credentials"
)

// Reasons of spillway_xds_rejected_connections_total.
const (
	reasonHandshake   = "tls_handshake"
	reasonNoCert      = "no_client_certificate"
	reasonUntrusted   = "untrusted_client_certificate"
	reasonNotAllowed  = "identity_not_allowed"
	maxRefusalsLogged = 1024
)

var refusalReasons = []string{reasonHandshake, reasonNoCert, reasonUntrusted, reasonNotAllowed}

// refusal is why the TLS handshake turned a client away.
type refusal struct {
	reason   string
	identity string // the certificate's first identity, if it had one
	err      error  // the chain's verification error, if any
}

func (r *refusal) Error() string {
	msg := "xds client refused: " + r.reason
	if r.identity != "" {
		msg += fmt.Sprintf(" (identity %q)", r.identity)
	}
	if r.err != nil {
		msg += ": " + r.err.Error()
	}
	return msg
}

func (r *refusal) Unwrap() error { return r.err }

// peerVerifier checks a client certificate against the client CAs and the
// allowed identities.
type peerVerifier struct {
	roots   *x509.CertPool
	allowed map[string]bool // empty: any verified client
}

func newPeerVerifier(roots *x509.CertPool, allowed []string) *peerVerifier {
	v := &peerVerifier{roots: roots, allowed: make(map[string]bool, len(allowed))}
	for _, id := range allowed {
		v.allowed[id] = true
	}
	return v
}

// verify is a tls.Config.VerifyConnection: the client's certificate must
// chain to a client CA for client authentication and, when there is an
// allow-list, carry one of its identities.
func (v *peerVerifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return &refusal{reason: reasonNoCert}
	}
	leaf := cs.PeerCertificates[0]
	ids := identities(leaf)
	first := ""
	if len(ids) > 0 {
		first = ids[0]
	}
	opts := x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		return &refusal{reason: reasonUntrusted, identity: first, err: err}
	}
	if len(v.allowed) == 0 {
		return nil
	}
	for _, id := range ids {
		if v.allowed[id] {
			return nil
		}
	}
	return &refusal{reason: reasonNotAllowed, identity: first}
}

// identities lists what a certificate says it is: its URI SANs, its DNS
// SANs, then its subject common name.
func identities(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	out = append(out, c.DNSNames...)
	if c.Subject.CommonName != "" {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

// refusingCreds are TLS transport credentials that count and log every
// handshake that fails, by reason.
type refusingCreds struct {
	credentials.TransportCredentials
	log *refusalLog
}

// refusalLog counts refusals and logs each once per reason and identity
// (or per reason and peer host when there is no identity), so that a
// client that keeps retrying does not flood the log.
type refusalLog struct {
	counter *prometheus.CounterVec
	log     *slog.Logger

	mu     sync.Mutex
	logged map[string]bool
}

func newRefusingCreds(
	tc credentials.TransportCredentials, counter *prometheus.CounterVec, log *slog.Logger,
) credentials.TransportCredentials {
	return &refusingCreds{TransportCredentials: tc,
		log: &refusalLog{counter: counter, log: log, logged: map[string]bool{}}}
}

// ServerHandshake runs the TLS handshake and reports a failure.
func (c *refusingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.log.refused(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

// Clone copies the credentials; the copies report to the same counter and
// share what was logged.
func (c *refusingCreds) Clone() credentials.TransportCredentials {
	return &refusingCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}

func (l *refusalLog) refused(addr net.Addr, err error) {
	reason, identity := reasonHandshake, ""
	var r *refusal
	if errors.As(err, &r) {
		reason, identity = r.reason, r.identity
	}
	l.counter.WithLabelValues(reason).Inc()

	peer, peerHost := "", ""
	if addr != nil {
		peer = addr.String()
		peerHost, _, _ = net.SplitHostPort(peer)
	}
	key := reason + "\x00" + identity
	if identity == "" {
		key += "\x00" + peerHost
	}
	l.mu.Lock()
	seen := l.logged[key]
	if !seen {
		if len(l.logged) >= maxRefusalsLogged {
			clear(l.logged)
		}
		l.logged[key] = true
	}
	l.mu.Unlock()
	if !seen {
		l.log.Warn("xds connection refused", "reason", reason, "identity", identity,
			"peer", peer, "err", err)
	}
}
