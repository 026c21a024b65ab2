package policy

import (
	"path"
	"slices"
	"strings"
)

// xdsSecurity checks xds.tls and xds.access.
func (ck *checker) xdsSecurity() {
	if t := ck.cfg.XDS.TLS; t != nil {
		ck.xdsTLS(t, "xds.tls")
	}
	if a := ck.cfg.XDS.Access; a != nil {
		ck.access(a, "xds.access")
	}
}

func (ck *checker) xdsTLS(t *XDSTLS, p string) {
	if t.CertFile == "" {
		ck.errorf(p+".cert_file", "", "required: the server certificate chain")
	}
	if t.KeyFile == "" {
		ck.errorf(p+".key_file", "", "required: the private key of cert_file")
	}
	ck.file(p+".cert_file", t.CertFile)
	ck.file(p+".key_file", t.KeyFile)
	ck.file(p+".client_ca_file", t.ClientCAFile)
	if len(t.AllowedIdentities) > 0 && t.ClientCAFile == "" {
		ck.errorf(p+".allowed_identities", "",
			"needs client_ca_file: identities are read from verified client certificates")
	}
	seen := map[string]bool{}
	for i, id := range t.AllowedIdentities {
		ip := itemPath(p+".allowed_identities", i)
		switch {
		case strings.TrimSpace(id) == "":
			ck.errorf(ip, "", "identity must not be empty")
		case seen[id]:
			ck.errorf(ip, id, "duplicate identity %q", id)
		}
		seen[id] = true
	}
}

func (ck *checker) access(a *Access, p string) {
	if a.Default != AccessAllow && a.Default != AccessDeny {
		ck.got(p+".default", a.Default, "want %s or %s", AccessAllow, AccessDeny)
	}
	for i, r := range a.Rules {
		ck.accessRule(r, itemPath(p+".rules", i))
	}
}

func (ck *checker) accessRule(r *AccessRule, p string) {
	m := r.Match
	if m.NodeID == "" && m.NodeCluster == "" {
		ck.errorf(p+".match", "", "set node_id, node_cluster or both")
	}
	ck.nodePattern(p+".match.node_id", m.NodeID)
	ck.nodePattern(p+".match.node_cluster", m.NodeCluster)

	for i, name := range r.Listeners {
		if ck.cfg.listener(name) == nil {
			ck.unknownListener(itemPath(p+".listeners", i), name)
		}
	}
	for i, name := range r.Pools {
		if _, ok := ck.cfg.Pools[name]; !ok {
			ck.unknownPool(itemPath(p+".pools", i), name)
		}
	}
	ck.accessRoutes(r, p)
}

// nodePattern checks a path.Match pattern; an empty one is not set.
func (ck *checker) nodePattern(p, pattern string) {
	if pattern == "" {
		return
	}
	if _, err := path.Match(pattern, ""); err != nil {
		ck.errorf(p, pattern, "bad pattern %q: %v", pattern, err)
	}
}

// accessRoutes checks that a rule limited to some pools holds every pool
// its listeners route to: a node would otherwise get routes to clusters it
// never receives, and answer their requests with errors.
func (ck *checker) accessRoutes(r *AccessRule, p string) {
	if len(r.Pools) == 0 {
		return
	}
	listeners := r.Listeners
	if len(listeners) == 0 {
		for _, l := range ck.cfg.Listeners {
			listeners = append(listeners, l.Name)
		}
	}
	reported := map[string]bool{}
	for _, name := range listeners {
		l := ck.cfg.listener(name)
		if l == nil {
			continue
		}
		for _, rt := range l.Routes {
			_, defined := ck.cfg.Pools[rt.Pool]
			if !defined || reported[rt.Pool] || slices.Contains(r.Pools, rt.Pool) {
				continue
			}
			reported[rt.Pool] = true
			ck.errorf(p+".pools", rt.Pool,
				"listener %q routes to pool %q, which the rule's pools leave out", name, rt.Pool)
		}
	}
}

// unknownListener reports a name that is not the name of a listener.
func (ck *checker) unknownListener(p, name string) {
	var defined []string
	for _, l := range ck.cfg.Listeners {
		defined = append(defined, l.Name)
	}
	list := "none"
	if len(defined) > 0 {
		slices.Sort(defined)
		list = strings.Join(defined, ", ")
	}
	ck.errorf(p, name, "unknown listener %q; defined listeners: %s", name, list)
}
