#!/usr/bin/env bash
# gen-keda.sh regenerates the Go code of KEDA's external scaler protocol
# (scaler/keda/externalscaler.proto) into scaler/keda/externalscaler/.
#
# It needs protoc (Debian: apt-get install -y protobuf-compiler) and
# installs the two Go plugins at pinned versions into a cache outside the
# repository, so the output does not depend on what is on PATH.
set -euo pipefail

PROTOC_GEN_GO_VERSION="${PROTOC_GEN_GO_VERSION:-v1.36.12}"
PROTOC_GEN_GO_GRPC_VERSION="${PROTOC_GEN_GO_GRPC_VERSION:-v1.5.1}"

root="$(cd "$(dirname "$0")/.." && pwd)"
gobin="${SPILLWAY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/spillway/tools}/protoc-gen"

if ! command -v protoc >/dev/null; then
	echo "gen-keda.sh: protoc not found; install it (apt-get install -y protobuf-compiler)" >&2
	exit 1
fi

mkdir -p "$gobin"
# Plugins install outside the module so that go.mod is left alone.
(cd / && GOBIN="$gobin" go install \
	"google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}")
(cd / && GOBIN="$gobin" go install \
	"google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}")

cd "$root/scaler/keda"
PATH="$gobin:$PATH" protoc \
	--proto_path=. \
	--go_out=externalscaler --go_opt=paths=source_relative \
	--go-grpc_out=externalscaler --go-grpc_opt=paths=source_relative \
	externalscaler.proto
