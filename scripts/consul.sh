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

# cached reports whether $bin is the wanted version. The output is captured
# before it is matched: piping it into `grep -q` under pipefail fails at
# random, when grep exits before consul has written everything (SIGPIPE),
# and a miss would rebuild the binary.
cached() {
  local out
  [ -x "$bin" ] && out=$("$bin" version 2>/dev/null) && [[ $out == *"Consul ${version}"* ]]
}

if cached; then
  echo "$bin"
  exit 0
fi

# One build at a time: test packages run in parallel and may all ask at
# once. Whoever waited finds the binary built when it gets the lock.
mkdir -p "$dir"
if command -v flock >/dev/null; then
  exec 9>"$dir/.lock"
  flock 9
  if cached; then
    echo "$bin"
    exit 0
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work" "$bin.tmp.$$"' EXIT

echo "building Consul $version into $dir (a cold build takes several minutes)" >&2
(
  cd "$work"
  go mod init spillway.local/consul-build >/dev/null 2>&1
  go mod edit -require="github.com/hashicorp/consul@$version"
  GOFLAGS=-mod=mod go mod download github.com/hashicorp/consul >&2
  GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp.$$" github.com/hashicorp/consul >&2
)
mv "$bin.tmp.$$" "$bin"
echo "$bin"
