# tasktail — build, run and test. `make run` and `make test` are the quick start.
GO      ?= go
ADDR    ?= 127.0.0.1:8080
BIN     := bin/tasktail
BENCH   := bin/tasktail-bench
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build bench-build run test lint proto proto-check fuzz screenshot bench soak clean image chart-test

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tasktail

# The OCI image, with no Docker daemon and no base image: a static binary per platform
# (CGO_ENABLED=0), then scripts/image (a module of its own, with go-containerregistry)
# puts each in an image of one layer with CA certificates and a non-root user, and writes
# an OCI layout of every platform to bin/image/oci and a `docker load` tarball per platform.
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
image:
	@set -e; bins=; for p in $(IMAGE_PLATFORMS); do \
		out=bin/$${p%/*}-$${p#*/}/tasktail; echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '-s -w $(LDFLAGS)' -o $$out ./cmd/tasktail; \
		bins="$$bins --binary $$p=$(CURDIR)/$$out"; \
	done; \
	cd scripts/image && $(GO) run . $$bins --version $(VERSION) \
		--created $$(git log -1 --format=%ct 2>/dev/null || date +%s) --out $(CURDIR)/bin/image

# The load generator, a command of its own: the tasktail binary users install does not carry it.
bench-build:
	$(GO) build -o $(BENCH) ./cmd/tasktail-bench

run: build
	./$(BIN) serve --addr $(ADDR)

# Stages print a line as they start, and go test a line per package as it finishes. The
# fuzz targets' seed corpora (testdata/fuzz) run here as plain tests; fuzzing beyond them
# is `make fuzz`. The in-process cluster member tests run without -race (the actor library
# races with itself there); the multi-member tests in tests/ run members as processes built
# without it. The chart's tests are a module of their own (Helm and the Kubernetes API);
# they build and run beside the main tests.
test: lint proto-check
	@echo "== cluster member tests in one process (without -race)"
	$(GO) test -count=1 ./cluster
	@echo "== every package with -race, and the Helm chart (deploy/helm) beside it"
	@chart=$$(mktemp); trap 'rm -f $$chart' EXIT; \
	$(MAKE) --no-print-directory chart-test > $$chart 2>&1 & pid=$$!; \
	status=0; $(GO) test -race -count=1 -parallel 4 -timeout 10m ./... || status=$$?; \
	wait $$pid || { status=1; echo "== the Helm chart's tests failed:"; }; \
	cat $$chart; exit $$status

# helm lint and helm template of deploy/helm/tasktail, with Helm as a library: no helm
# binary, no cluster, no network beyond the Go module proxy for a first build.
chart-test:
	cd deploy/helm && $(GO) vet ./... && $(GO) test -count=1 ./...

# Fuzz targets: each runs its committed seed corpus (testdata/fuzz) in every `go test`, and
# here for FUZZTIME beyond it (a duration, or a count such as 20000x), showing go's
# progress line every 3 s. With a duration, Go 1.26's fuzz coordinator may fail a target
# with a bare "context deadline exceeded" at its end on a busy machine (golang/go#75804,
# fixed in Go 1.27): give a count there.
FUZZTIME ?= 30s
FUZZ_TARGETS := wire:FuzzDecodePublish wire:FuzzDecodeBatch server:FuzzQuery token:FuzzVerify wire:FuzzLogFrame internal/termtext:FuzzClean

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd scripts/image && $(GO) vet ./...

# Regenerate the actor messages with Debian's protoc and the protoc-gen-go pinned in go.mod.
# PROTO_OUT is where the generated tree goes (the module root by default).
PROTO_OUT ?= .
proto:
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	protoc --plugin=protoc-gen-go=bin/protoc-gen-go -I proto \
		--go_out=$(PROTO_OUT) --go_opt=module=github.com/tasktail/tasktail \
		proto/tasktail/v1/tasktail.proto

# Fails when the generated code in the tree is not what `make proto` makes of the .proto
# in the tree. Without protoc it is skipped, except under CI=true, where a missing
# prerequisite is a failure.
proto-check:
	@if command -v protoc >/dev/null; then \
		tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
		$(MAKE) --no-print-directory -s proto PROTO_OUT=$$tmp && \
		diff -u proto/tasktail/v1/tasktail.pb.go $$tmp/proto/tasktail/v1/tasktail.pb.go || \
		{ echo "proto/tasktail/v1/tasktail.pb.go is stale: run make proto"; exit 1; }; \
	elif [ "$$CI" = true ]; then echo "protoc missing (apt-get install protobuf-compiler)"; exit 1; \
	else echo "proto-check skipped: protoc not installed"; fi

fuzz:
	@set -e; n=0; for t in $(FUZZ_TARGETS); do n=$$((n+1)); \
		echo "== fuzz $$n of $(words $(FUZZ_TARGETS)): $${t#*:} (./$${t%%:*}) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/; \
	done

# Refreshes the README's picture of the viewer page from the real page in headless chromium.
screenshot:
	TASKTAIL_UPDATE_SCREENSHOT=$(CURDIR)/docs/viewer.png $(GO) test -count=1 -run TestViewerScreenshot ./tests

# Go benchmarks, the end-to-end loads against a fresh server (scripts/bench-e2e), the
# durable path against memory in one sitting (scripts/bench-durable; FLOOR= and CENTRIFUGO=
# add those servers), then the soak: valid and garbage traffic together for SOAK (at most 10m).
SOAK ?= 1m
bench: build bench-build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) test -run '^$$' -bench 'Memory' -benchtime 100000x ./actors
	scripts/bench-e2e
	scripts/bench-durable
	scripts/bench-python
	scripts/bench-hostile
	TASKTAIL_SOAK_DURATION=$(SOAK) $(GO) test -tags soak -count=1 -run '^TestSoak$$' -v -timeout 12m ./tests

# The model-based crash test (actors/model_test.go) for MODEL_SOAK per journal: random
# sequences of publishes, viewers, deletes, restarts, sweeps, lost write answers and
# crashes, checked against the contract. A failure prints the seed that replays it
# (TASKTAIL_MODEL_SEED). make test runs its small budget.
# Then the cluster soak (tests/cluster_soak_test.go) for CLUSTER_SOAK: three members,
# etcd and PostgreSQL under random faults (SIGKILL, SIGTERM, SIGSTOP 1-15 s, PostgreSQL
# stopped 5 s, etcd stopped 10 s); make test runs it for 60 s.
MODEL_SOAK ?= 3m
CLUSTER_SOAK ?= 10m
soak:
	TASKTAIL_MODEL_DURATION=$(MODEL_SOAK) $(GO) test -race -count=1 -run '^TestModel$$' -v -timeout 60m ./actors
	TASKTAIL_CLUSTER_SOAK=$(CLUSTER_SOAK) $(GO) test -count=1 -run '^TestClusterSoakUnderFaults$$' -v -timeout 40m ./tests

clean:
	rm -rf bin
