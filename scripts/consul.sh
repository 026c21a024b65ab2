#!/usr/bin/env bash
# Prints the path of a Consul v1.16.1 agent binary, building it first when it
# is not cached. v1.16.1 is the last release under MPL-2.0; the version is
# pinned on purpose and must not be raised.
#
# The binary is built from the Go module proxy in a throwaway module outside
# the repository, so Spillway's own go.mod never depends on the Consul server.
# A cold build takes about nine minutes on two cores; later calls return at
# once. Set SPILLWAY_CACHE to move the cache (default ~/.cache/spillway).
set -euo pipefail

version=v1.16.1
cache=${SPILLWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spillway}
dir=$cache/consul-$version
bin=$dir/consul

if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "Consul ${version}"; then
  echo "$bin"
  exit 0
fi

mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building Consul $version into $dir (a cold build takes several minutes)" >&2
(
  cd "$work"
  go mod init spillway.local/consul-build >/dev/null 2>&1
  go mod edit -require="github.com/hashicorp/consul@$version"
  GOFLAGS=-mod=mod go mod download github.com/hashicorp/consul >&2
  GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" github.com/hashicorp/consul >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
