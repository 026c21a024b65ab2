package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"
)

// DefaultTLSCheckInterval is how often, at most, the TLS files are looked
// at for changes when TLSFiles.CheckInterval is zero.
const DefaultTLSCheckInterval = 5 * time.Second

// TLSFiles names the PEM files of the ADS server's TLS and who may connect.
type TLSFiles struct {
	// CertFile is the server certificate chain; required.
	CertFile string
	// KeyFile is the private key of CertFile; required.
	KeyFile string
	// ClientCAFile, when set, requires every client to present a
	// certificate that chains to one of its CAs.
	ClientCAFile string
	// AllowedIdentities, when not empty, admits only clients whose
	// certificate carries one of them as a URI SAN, a DNS SAN or the
	// subject common name. It needs ClientCAFile.
	AllowedIdentities []string
	// CheckInterval is the least time between two looks at the files'
	// modification times; 0 means DefaultTLSCheckInterval.
	CheckInterval time.Duration
}

// NewTLSConfig reads files and returns a server TLS config that serves
// them. Each new connection looks at the files' modification times and
// sizes, at most once per CheckInterval, and reads them again when they
// changed, so that certificates rotate without a restart. A rotation that
// does not load (a key that does not match its certificate, say) is logged
// once and the previous files stay in use until the next change. It
// returns an error when the files do not load now.
//
// A refused client fails the handshake with an error that Options.TLS
// reports in spillway_xds_rejected_connections_total{reason}.
func NewTLSConfig(files TLSFiles, log *slog.Logger) (*tls.Config, error) {
	if files.CertFile == "" || files.KeyFile == "" {
		return nil, errors.New("xds tls: a certificate file and a key file are required")
	}
	if len(files.AllowedIdentities) > 0 && files.ClientCAFile == "" {
		return nil, errors.New("xds tls: allowed identities need a client CA file")
	}
	if files.CheckInterval <= 0 {
		files.CheckInterval = DefaultTLSCheckInterval
	}
	src := &tlsSource{files: files, log: log}
	stamps := src.stat()
	cfg, err := src.load()
	if err != nil {
		return nil, err
	}
	src.current, src.stamps, src.checked = cfg, stamps, time.Now()
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: src.configForClient}, nil
}

// tlsSource holds the config read from the files and reads them again when
// they change.
type tlsSource struct {
	files TLSFiles
	log   *slog.Logger

	mu      sync.Mutex
	current *tls.Config
	stamps  []fileStamp // of the files current was read from
	checked time.Time
	failed  string // the last reload error, logged once
}

// fileStamp is what tells that a file changed without reading it.
type fileStamp struct {
	modTime time.Time
	size    int64
	err     string
}

// configForClient returns the config for a new connection, reading the
// files again first if they changed since they were last read.
func (s *tlsSource) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.checked) >= s.files.CheckInterval {
		s.checked = now
		s.reloadIfChanged()
	}
	return s.current, nil
}

// reloadIfChanged reads the files when their stamps differ from those of
// the current config. The stamps are taken before reading, so that a
// write during the read is seen at the next check.
func (s *tlsSource) reloadIfChanged() {
	stamps := s.stat()
	if slices.Equal(stamps, s.stamps) {
		return
	}
	cfg, err := s.load()
	if err != nil {
		if msg := err.Error(); msg != s.failed {
			s.failed = msg
			s.log.Error("xds tls files changed but do not load; keeping the previous ones",
				"err", err)
		}
		return
	}
	s.current, s.stamps, s.failed = cfg, stamps, ""
	s.log.Info("xds tls files reloaded", "cert_file", s.files.CertFile)
}

// paths lists the files to watch.
func (s *tlsSource) paths() []string {
	out := []string{s.files.CertFile, s.files.KeyFile}
	if s.files.ClientCAFile != "" {
		out = append(out, s.files.ClientCAFile)
	}
	return out
}

func (s *tlsSource) stat() []fileStamp {
	var out []fileStamp
	for _, p := range s.paths() {
		info, err := os.Stat(p)
		if err != nil {
			out = append(out, fileStamp{err: err.Error()})
			continue
		}
		out = append(out, fileStamp{modTime: info.ModTime(), size: info.Size()})
	}
	return out
}

// load reads the files into a config. Errors name files, never their
// content.
func (s *tlsSource) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("loading xds tls certificate %q and key %q: %w",
			s.files.CertFile, s.files.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2"},
	}
	if s.files.ClientCAFile == "" {
		return cfg, nil
	}
	pool, err := loadCAs(s.files.ClientCAFile)
	if err != nil {
		return nil, err
	}
	v := newPeerVerifier(pool, s.files.AllowedIdentities)
	// The verifier checks the chain itself, rather than crypto/tls, so
	// that every refusal carries its reason; VerifyConnection also runs
	// on resumed sessions, which VerifyPeerCertificate would not. The
	// request names no CAs (ClientCAs stays nil): a Go client whose
	// certificate is not from one of them would send none, and the
	// refusal would not say which certificate it was.
	cfg.ClientAuth = tls.RequestClientCert
	cfg.VerifyConnection = v.verify
	return cfg, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading xds tls client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("reading xds tls client CA file %q: no PEM certificate in it", path)
	}
	return pool, nil
}
