# Spillway's developer commands. `make test` is what CI runs.

GO        ?= go
BIN       ?= bin
PKGS      ?= ./...
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME  ?= 30s

.PHONY: all build test lint bench bench-xds fuzz consul docs generate clean

all: build

build:
	$(GO) build -o $(BIN)/spillway ./cmd/spillway

# consul prints the path of the Consul agent the integration tests use,
# building it once into a cache outside the repository.
consul:
	@scripts/consul.sh

test:
	SPILLWAY_CONSUL_BIN="$$(scripts/consul.sh)" $(GO) test -count=1 -timeout 20m $(PKGS)

lint:
	$(GO) vet $(PKGS)
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./xds/translate/

# bench-xds serves 1,000 pools to 1,000 simulated Envoys from Spillway and
# from a stock go-control-plane snapshot cache, side by side, and writes
# docs/BENCHMARKS.md. It takes about 12 minutes on two cores.
bench-xds:
	$(GO) build -o $(BIN)/xdsload ./cmd/xdsload
	$(BIN)/xdsload run --impl both --mode both --n 1000 --pools 1000 --endpoints 10 \
		--changes 30 --duration 60s --markdown docs/BENCHMARKS.md

# fuzz runs every fuzz target for FUZZTIME; their seed corpora also run in
# `make test`.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# docs regenerates the config reference from the policy package; a test
# fails while it is stale.
docs:
	$(GO) run ./internal/tools/configdoc -o docs/config.md

# generate rebuilds the Go code of the KEDA external scaler protocol from
# scaler/keda/externalscaler.proto (needs protoc; the script installs the
# pinned plugins into a cache outside the repository).
generate:
	scripts/gen-keda.sh

clean:
	rm -rf $(BIN)
