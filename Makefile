# Crier's two commands: `make run` and `make test`. Both set up PostgreSQL and Redis on
# loopback first (scripts/services.sh: starts them, installs them with apt-get if missing).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin
BIN := bin/crier
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: run test build services check fuzz bench-import compose-config

## run: set up PostgreSQL and Redis, migrate, and serve the API on 127.0.0.1:8080
run: services build
	@scripts/run.sh

## test: set up PostgreSQL and Redis, then gofmt, go vet and the whole suite with -race
test: services check
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o $(BIN) ./cmd/crier

services:
	@scripts/services.sh

check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v docker-compose >/dev/null; then $(MAKE) --no-print-directory compose-config; fi

## compose-config: validate compose.yaml with a compose parser
compose-config:
	CRIER_HASH_KEY=0000000000000000000000000000000000000000000000000000000000000000 docker-compose -f compose.yaml config -q

## fuzz: run every fuzz target for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done

## bench-import: the 1 M-row CSV import benchmark of docs/BENCHMARKS.md
bench-import: services
	$(GO) test ./contacts -run '^$$' -bench Import1M -benchtime 1x -count 3 -v
