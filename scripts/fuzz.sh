#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for the given time each
# (default 30s). `go test` runs only one fuzz target per invocation, so the
# targets are found by name and run one after another.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}

grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort | while read -r f; do
  dir=$(dirname "$f")
  grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r target; do
    echo "== $dir $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$dir"
  done
done
