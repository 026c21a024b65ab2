package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// checker collects the problems of a decoded, defaulted config, each with
// the line of its field.
type checker struct {
	cfg   *Config
	index fieldIndex
	// failed holds paths that could not be decoded; their problems are
	// already reported, and checking their zero values would only repeat
	// them in other words.
	failed map[string]bool
	errs   Errors
}

// validate returns every problem of c. It reads lines from index and skips
// fields under the paths in failed.
func validate(c *Config, index fieldIndex, failed map[string]bool) Errors {
	ck := &checker{cfg: c, index: index, failed: failed}
	ck.discovery()
	ck.servers()
	ck.xdsSecurity()
	ck.pools()
	ck.listeners()
	if c.Scaler != nil {
		ck.scaler(c.Scaler)
	}
	return ck.errs
}

// errorf records a problem with the field at path; value is the offending
// value as the user would recognise it, "" when there is none.
func (ck *checker) errorf(path, value, format string, args ...any) {
	for p := path; ; p = parentPath(p) {
		if ck.failed[p] {
			return
		}
		if p == rootPath {
			break
		}
	}
	ck.errs = append(ck.errs, &FieldError{
		File: ck.cfg.Path, Line: ck.index.line(path), Path: path, Value: value,
		Msg: fmt.Sprintf(format, args...),
	})
}

func (ck *checker) discovery() {
	d := ck.cfg.Discovery
	switch {
	case d.Consul != nil && d.File != nil:
		ck.errorf("discovery", "", "name one source, consul or file, not both")
	case d.Consul == nil && d.File == nil:
		ck.errorf("discovery", "", "name one source: consul or file")
	}
	if d.File != nil && d.File.Path == "" {
		ck.errorf("discovery.file.path", "", "required: the catalog file to read")
	}
	if c := d.Consul; c != nil {
		if c.Address != "" {
			ck.endpoint("discovery.consul.address", c.Address)
		}
		if c.TLS != nil {
			ck.certFiles("discovery.consul.tls", c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile)
		}
	}
}

// servers checks the xds and admin sections.
func (ck *checker) servers() {
	x := ck.cfg.XDS
	ck.listenAddr("xds.listen", x.Listen)
	ck.listenAddr("admin.listen", ck.cfg.Admin.Listen)
	if x.Batch.MaxDelay < x.Batch.Quiet {
		ck.got("xds.batch.max_delay", x.Batch.MaxDelay,
			"must not be shorter than quiet (%s)", x.Batch.Quiet)
	}
	ck.positive("xds.keepalive.time", x.Keepalive.Time)
	ck.positive("xds.keepalive.timeout", x.Keepalive.Timeout)
	ck.positive("xds.keepalive.min_time", x.Keepalive.MinTime)
	if x.MaxConcurrentStreams < 1 {
		ck.got("xds.max_concurrent_streams", x.MaxConcurrentStreams, "must be at least 1")
	}
	if x.MaxMessageBytes < 1 {
		ck.got("xds.max_message_bytes", x.MaxMessageBytes, "must be at least 1")
	}
}

// listenAddr checks a host:port to listen on; port 0 picks a free port.
func (ck *checker) listenAddr(path, addr string) {
	if addr == "" {
		ck.errorf(path, "", "required: host:port to listen on")
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		ck.errorf(path, addr, "want host:port, got %q", addr)
	}
}

// endpoint checks a host:port or an http(s) URL of a server to reach.
func (ck *checker) endpoint(path, addr string) {
	if strings.Contains(addr, "://") {
		ck.httpURL(path, addr)
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || host == "" {
		ck.errorf(path, addr, "want host:port or an http(s) URL, got %q", addr)
	}
}

// httpURL checks an absolute http or https URL.
func (ck *checker) httpURL(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		ck.errorf(path, raw, "want an absolute http:// or https:// URL, got %q", raw)
	}
}

// positive checks a duration that must be more than zero: missing when
// the file left it out, else too small.
func (ck *checker) positive(path string, d time.Duration) {
	switch {
	case d > 0:
	case !ck.index.has(path):
		ck.errorf(path, "", "required")
	default:
		ck.got(path, d, "must be more than 0s")
	}
}

// certFiles checks the files of a TLS section: each set one must exist, and
// a client certificate needs its key and the other way round.
func (ck *checker) certFiles(path, caFile, certFile, keyFile string) {
	ck.file(path+".ca_file", caFile)
	ck.file(path+".cert_file", certFile)
	ck.file(path+".key_file", keyFile)
	switch {
	case certFile != "" && keyFile == "":
		ck.errorf(path+".key_file", "", "required with cert_file")
	case certFile == "" && keyFile != "":
		ck.errorf(path+".cert_file", "", "required with key_file")
	}
}

// file checks that the file at p, relative to the config file, exists.
func (ck *checker) file(path, p string) {
	if p == "" {
		return
	}
	full := ck.cfg.Resolve(p)
	where := fmt.Sprintf("%q", p)
	if full != p {
		where = fmt.Sprintf("%q (resolved to %q)", p, full)
	}
	info, err := os.Stat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ck.errorf(path, p, "file %s does not exist", where)
	case err != nil:
		ck.errorf(path, p, "cannot use file %s: %v", where, errors.Unwrap(err))
	case info.IsDir():
		ck.errorf(path, p, "file %s is a directory", where)
	}
}

var namePattern = regexp.MustCompile(`^[a-z0-9_.-]+$`)

// name checks the name of a pool or listener, which becomes the name of
// Envoy resources and a part of stat names.
func (ck *checker) name(path, kind, name string) {
	switch {
	case name == "":
		ck.errorf(path, "", "%s name must not be empty", kind)
	case !namePattern.MatchString(name):
		ck.errorf(path, name, "%s name %q may hold only a-z, 0-9, '_', '.' and '-'", kind, name)
	}
}

// got records that the value v at path breaks a rule, quoting v after the
// rule, as in: must be at least 2, got "1".
// noLineBreaks refuses NUL, CR and LF, which no header name or host may
// hold and which Envoy's own validation would reject after translation.
func (ck *checker) noLineBreaks(path, v string) {
	if strings.ContainsAny(v, "\x00\r\n") {
		ck.got(path, v, "must not contain NUL, CR or LF")
	}
}

// noControl refuses every control character but tab, as Envoy does for
// paths and Host headers.
func (ck *checker) noControl(path, v string) {
	for _, r := range v {
		if r != '\t' && (r < 0x20 || r == 0x7f) {
			ck.got(path, v, "must not contain control characters")
			return
		}
	}
}

func (ck *checker) got(path string, v any, rule string, args ...any) {
	s := fmt.Sprint(v)
	ck.errorf(path, s, "%s, got %q", fmt.Sprintf(rule, args...), s)
}
