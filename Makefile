# tasktail — build, run and test. `make run` and `make test` are the quick start.
GO      ?= go
ADDR    ?= 127.0.0.1:8080
BIN     := bin/tasktail
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
ACTOR_PROTO_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/asynkron/protoactor-go)/actor

.PHONY: build run test lint proto proto-check fuzz screenshot bench clean

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tasktail

run: build
	./$(BIN) serve --addr $(ADDR)

test: lint proto-check
	$(GO) test -race -count=1 -timeout 10m ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Regenerate the actor messages with Debian's protoc and the protoc-gen-go pinned in go.mod.
proto:
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	protoc --plugin=protoc-gen-go=bin/protoc-gen-go -I proto -I $(ACTOR_PROTO_DIR) \
		--go_out=. --go_opt=module=github.com/tasktail/tasktail \
		--go_opt=Mactor.proto=github.com/asynkron/protoactor-go/actor \
		proto/tasktail/v1/tasktail.proto

# Fails when the committed generated code is not what `make proto` produces. Without
# protoc it is skipped, except under CI=true, where a missing prerequisite is a failure.
proto-check:
	@if command -v protoc >/dev/null; then \
		$(MAKE) --no-print-directory proto && git diff --exit-code -- proto/ || \
		{ echo "generated code in proto/ is stale: run make proto and commit"; exit 1; }; \
	elif [ "$$CI" = true ]; then echo "protoc missing (apt-get install protobuf-compiler)"; exit 1; \
	else echo "proto-check skipped: protoc not installed"; fi

# Runs each fuzz target briefly beyond its committed seed corpus.
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodePublish -fuzztime 30s ./server/
	$(GO) test -run '^$$' -fuzz FuzzLogFrame -fuzztime 30s ./actors/

# Refreshes the README's picture of the viewer page from the real page in headless chromium.
screenshot:
	TASKTAIL_UPDATE_SCREENSHOT=$(CURDIR)/docs/viewer.png $(GO) test -count=1 -run TestViewerScreenshot ./tests

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
