// Package version reports the version Spillway was built as.
package version

import "runtime/debug"

// Version is set at link time with -ldflags "-X ...version.Version=v1.2.3";
// otherwise String falls back to the module and VCS data Go embeds.
var Version = ""

// String returns the version, the commit when known, and the Go version.
func String() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orDev(Version)
	}
	v := Version
	if v == "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	s := orDev(v)
	for _, kv := range info.Settings {
		if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
			s += " (" + kv.Value[:12] + ")"
		}
	}
	return s + " " + info.GoVersion
}

func orDev(v string) string {
	if v == "" {
		return "dev"
	}
	return v
}
