package server_test

import (
	"crypto/tls"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/spillway/spillway/internal/testcerts"
	"github.com/spillway/spillway/xds/server"
)

const rejectedMetric = "spillway_xds_rejected_connections_total"

// serverTLS writes the server's files, issued by ca, to dir. With
// clientCA the server requires client certificates issued by it.
func serverTLS(
	t *testing.T, dir string, ca, clientCA *testcerts.CA, allowed ...string,
) server.TLSFiles {
	t.Helper()
	cert, key := ca.Issue(t, testcerts.Leaf{CN: "spillway", Server: true})
	files := server.TLSFiles{
		CertFile:          writeFile(t, dir, "server.pem", cert),
		KeyFile:           writeFile(t, dir, "server-key.pem", key),
		AllowedIdentities: allowed,
		// Every new connection looks at the files, so that a rotation is
		// seen by the next one.
		CheckInterval: time.Nanosecond,
	}
	if clientCA != nil {
		files.ClientCAFile = writeFile(t, dir, "client-ca.pem", clientCA.PEM)
	}
	return files
}

// startTLS serves the test fleet over TLS from files.
func startTLS(t *testing.T, files server.TLSFiles) *env {
	t.Helper()
	e := startWith(t, defaultOptions(), func(log *slog.Logger) *tls.Config {
		cfg, err := server.NewTLSConfig(files, log)
		if err != nil {
			t.Fatalf("NewTLSConfig: %v", err)
		}
		return cfg
	})
	e.set(t, newFleet().resources())
	return e
}

// tlsCreds trusts serverCA and presents cert, if any.
func tlsCreds(serverCA *testcerts.CA, cert *tls.Certificate) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: serverCA.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return credentials.NewTLS(cfg)
}

// fetchClusters opens an ADS stream with creds and asks for every cluster.
// It returns the cluster names, or the error that ended the stream.
func (e *env) fetchClusters(
	t *testing.T, creds credentials.TransportCredentials,
) ([]string, error) {
	t.Helper()
	a, err := tryADS(t, e.dial(t, creds), &corev3.Node{Id: "tls-client"})
	if err != nil {
		return nil, err
	}
	// A refused connection may fail the send already; the stream's end
	// tells why.
	_ = a.sendRaw(&discovery.DiscoveryRequest{Node: a.node, TypeUrl: resource.ClusterType})
	select {
	case r := <-a.resps:
		return names(t, r), nil
	case err := <-a.errc:
		return nil, err
	case <-time.After(wait):
		t.Fatal("no response and no error")
		return nil, nil
	}
}

// rejected returns spillway_xds_rejected_connections_total{reason}.
func (e *env) rejected(t *testing.T, reason string) float64 {
	t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != rejectedMetric {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// eventuallyRejected waits until the counter of reason reaches at least
// want: the server counts after the client has seen the failure.
func (e *env) eventuallyRejected(t *testing.T, reason string, want float64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for e.rejected(t, reason) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s{reason=%q} = %v, want at least %v", rejectedMetric, reason,
				e.rejected(t, reason), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMutualTLS(t *testing.T) {
	ca, other := testcerts.NewCA(t, "fleet-ca"), testcerts.NewCA(t, "other-ca")
	e := startTLS(t, serverTLS(t, t.TempDir(), ca, ca,
		"spiffe://fleet/edge", "edge.example.com", "edge-cn"))

	pair := func(c *testcerts.CA, l testcerts.Leaf) *tls.Certificate {
		p := c.KeyPair(t, l)
		return &p
	}
	tests := []struct {
		name   string
		creds  credentials.TransportCredentials
		reason string // empty: the client gets the clusters
	}{
		{name: "plaintext client", creds: insecure.NewCredentials(), reason: "tls_handshake"},
		{name: "no client certificate", creds: tlsCreds(ca, nil),
			reason: "no_client_certificate"},
		{name: "certificate of another CA",
			creds:  tlsCreds(ca, pair(other, testcerts.Leaf{URIs: []string{"spiffe://fleet/edge"}})),
			reason: "untrusted_client_certificate"},
		{name: "identity not on the list",
			creds: tlsCreds(ca,
				pair(ca, testcerts.Leaf{CN: "core-cn", URIs: []string{"spiffe://fleet/core"}})),
			reason: "identity_not_allowed"},
		{name: "server certificate not trusted by the client",
			creds:  tlsCreds(other, pair(ca, testcerts.Leaf{URIs: []string{"spiffe://fleet/edge"}})),
			reason: "tls_handshake"},
		{name: "allowed URI SAN",
			creds: tlsCreds(ca, pair(ca, testcerts.Leaf{CN: "x", URIs: []string{"spiffe://fleet/edge"}}))},
		{name: "allowed DNS SAN",
			creds: tlsCreds(ca, pair(ca, testcerts.Leaf{DNS: []string{"edge.example.com"}}))},
		{name: "allowed common name", creds: tlsCreds(ca, pair(ca, testcerts.Leaf{CN: "edge-cn"}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.rejected(t, tt.reason)
			got, err := e.fetchClusters(t, tt.creds)
			if tt.reason == "" {
				if err != nil || !slices.Equal(got, []string{"a", "b"}) {
					t.Fatalf("got %v, %v; want clusters [a b]", got, err)
				}
				return
			}
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable", err)
			}
			e.eventuallyRejected(t, tt.reason, before+1)
		})
	}
}

// TestRefusalLoggedOncePerIdentity checks that a client that keeps coming
// back is counted every time but logged once.
func TestRefusalLoggedOncePerIdentity(t *testing.T) {
	ca := testcerts.NewCA(t, "fleet-ca")
	e := startTLS(t, serverTLS(t, t.TempDir(), ca, ca, "spiffe://fleet/edge"))
	core := ca.KeyPair(t, testcerts.Leaf{URIs: []string{"spiffe://fleet/core"}})
	batch := ca.KeyPair(t, testcerts.Leaf{URIs: []string{"spiffe://fleet/batch"}})

	for _, cert := range []*tls.Certificate{&core, &core, &core, &batch} {
		if _, err := e.fetchClusters(t, tlsCreds(ca, cert)); err == nil {
			t.Fatal("a refused identity got clusters")
		}
	}
	e.eventuallyRejected(t, "identity_not_allowed", 4)
	for _, id := range []string{"spiffe://fleet/core", "spiffe://fleet/batch"} {
		lines := e.logs.lines("level=WARN", "xds connection refused", "identity="+id)
		if len(lines) != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", id, len(lines),
				strings.Join(lines, "\n"))
		}
	}
}

func TestServerOnlyTLS(t *testing.T) {
	ca := testcerts.NewCA(t, "fleet-ca")
	e := startTLS(t, serverTLS(t, t.TempDir(), ca, nil))
	if got, err := e.fetchClusters(t, tlsCreds(ca, nil)); err != nil || len(got) != 2 {
		t.Errorf("TLS client without a certificate: %v, %v; want clusters [a b]", got, err)
	}
	_, err := e.fetchClusters(t, insecure.NewCredentials())
	if status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext client: %v, want Unavailable", err)
	}
}

// TestTLSRotation replaces the server certificate and the client CA on
// disk and checks that new connections use them without a restart, and
// that files that do not load leave the previous ones in use.
func TestTLSRotation(t *testing.T) {
	dir := t.TempDir()
	caOld, caNew := testcerts.NewCA(t, "old-ca"), testcerts.NewCA(t, "new-ca")
	e := startTLS(t, serverTLS(t, dir, caOld, caOld))
	oldClient := caOld.KeyPair(t, testcerts.Leaf{CN: "edge"})
	newClient := caNew.KeyPair(t, testcerts.Leaf{CN: "edge"})

	if _, err := e.fetchClusters(t, tlsCreds(caNew, &newClient)); err == nil {
		t.Fatal("a client of the new CA connected before the rotation")
	}
	if _, err := e.fetchClusters(t, tlsCreds(caOld, &oldClient)); err != nil {
		t.Fatalf("a client of the old CA before the rotation: %v", err)
	}

	serverTLS(t, dir, caNew, caNew) // writes the same file names
	if _, err := e.fetchClusters(t, tlsCreds(caNew, &newClient)); err != nil {
		t.Fatalf("a client of the new CA after the rotation: %v", err)
	}
	if _, err := e.fetchClusters(t, tlsCreds(caOld, &oldClient)); err == nil {
		t.Fatal("a client of the old CA still connects after the rotation")
	}

	// A key that does not match the certificate: the new files stay.
	_, strayKey := caNew.Issue(t, testcerts.Leaf{CN: "stray", Server: true})
	writeFile(t, dir, "server-key.pem", strayKey)
	for range 2 {
		if _, err := e.fetchClusters(t, tlsCreds(caNew, &newClient)); err != nil {
			t.Fatalf("after a bad rotation: %v", err)
		}
	}
	if n := len(e.logs.lines("level=ERROR", "do not load")); n != 1 {
		t.Errorf("the bad rotation was logged %d times, want once", n)
	}
	if n := len(e.logs.lines("PRIVATE KEY")); n != 0 {
		t.Errorf("key material in %d log lines", n)
	}
}

func TestNewTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ca")
	cert, key := ca.Issue(t, testcerts.Leaf{CN: "spillway", Server: true})
	_, otherKey := ca.Issue(t, testcerts.Leaf{CN: "other", Server: true})
	certFile := writeFile(t, dir, "cert.pem", cert)
	keyFile := writeFile(t, dir, "key.pem", key)
	otherKeyFile := writeFile(t, dir, "other-key.pem", otherKey)
	caFile := writeFile(t, dir, "ca.pem", ca.PEM)
	tests := []struct {
		name  string
		files server.TLSFiles
		want  string
	}{
		{name: "no key", files: server.TLSFiles{CertFile: certFile},
			want: "a certificate file and a key file are required"},
		{name: "identities without a CA",
			files: server.TLSFiles{CertFile: certFile, KeyFile: keyFile,
				AllowedIdentities: []string{"x"}},
			want: "allowed identities need a client CA file"},
		{name: "key of another certificate",
			files: server.TLSFiles{CertFile: certFile, KeyFile: otherKeyFile},
			want:  "private key does not match public key"},
		{name: "missing CA file",
			files: server.TLSFiles{CertFile: certFile, KeyFile: keyFile,
				ClientCAFile: dir + "/none.pem"},
			want: "no such file"},
		{name: "CA file without certificates",
			files: server.TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: keyFile},
			want:  "no PEM certificate in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := server.NewTLSConfig(tt.files, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error shows key material: %v", err)
			}
		})
	}
	if _, err := server.NewTLSConfig(server.TLSFiles{CertFile: certFile, KeyFile: keyFile,
		ClientCAFile: caFile}, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("good files: %v", err)
	}
}
