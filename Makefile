# Crier's two commands: `make run` and `make test`. Both set up PostgreSQL and Redis on
# loopback first (scripts/services.sh: starts them, installs them with apt-get if missing).

GO ?= go
export PATH := $(PATH):/usr/local/go/bin
BIN := bin/crier
GOFILES = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: run test build services chromium check fuzz bench-import compose-config lint-openapi assets check-assets

## run: set up PostgreSQL and Redis, migrate, and serve the API on 127.0.0.1:8080
run: services build
	@scripts/run.sh

## test: set up PostgreSQL, Redis and Chromium (the console's browser tests), then gofmt, go vet, the OpenAPI linter and the whole suite with -race
test: services chromium check lint-openapi
	$(GO) test -race -count=1 ./...

build:
	$(GO) build -o $(BIN) ./cmd/crier

services:
	@scripts/services.sh

## chromium: install Debian's chromium for the console's browser tests when no Chromium is there
chromium:
	@scripts/chromium.sh

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

# The development tools of package.json (the OpenAPI linter, Redoc's bundle), installed as
# package-lock.json pins them whenever node_modules is missing or older than it; with
# Node.js and npm from Debian if the machine has none. Crier itself needs no Node.js.
node_modules/.package-lock.json: package.json package-lock.json
	@scripts/node.sh
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# No usage report to Redocly, no update notice: the lint runs offline.
REDOCLY := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --no-install redocly

## lint-openapi: lint docs/openapi.yaml (Redocly's recommended rules, redocly.yaml), and check that httpapi/assets holds the pinned Redoc
lint-openapi: node_modules/.package-lock.json check-assets
	$(REDOCLY) lint --format=stylish docs/openapi.yaml

# Redoc's bundle for GET /docs, generated from the version pinned in package.json and
# committed, so that `go build` needs no Node.js.
REDOC_FILES := redoc.standalone.js redoc.standalone.js.LICENSE.txt

## assets: copy Redoc's bundle (the version pinned in package.json) into httpapi/assets; commit the result
assets: node_modules/.package-lock.json
	cp $(addprefix node_modules/redoc/bundles/,$(REDOC_FILES)) httpapi/assets/
	cp node_modules/redoc/LICENSE httpapi/assets/redoc.LICENSE

## check-assets: fail when httpapi/assets differs from the pinned Redoc (run make assets)
check-assets: node_modules/.package-lock.json
	@for f in $(REDOC_FILES); do \
	  cmp -s node_modules/redoc/bundles/$$f httpapi/assets/$$f || { echo "httpapi/assets/$$f is not the pinned redoc's: run make assets"; exit 1; }; \
	done
	@cmp -s node_modules/redoc/LICENSE httpapi/assets/redoc.LICENSE || { echo "httpapi/assets/redoc.LICENSE is not the pinned redoc's: run make assets"; exit 1; }
