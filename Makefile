# Loom — see README.md. `make run` serves on :8080; `make test` is the whole suite.
GO      ?= go
BIN     := bin
PLUGINS := text vision audio video
REDIS_PORT ?= 6390
export LOOM_TEST_REDIS ?= redis://127.0.0.1:$(REDIS_PORT)/0

.PHONY: openai-node build run test test-tools deps chaos soak bench lint proto redis-up redis-down clean wer-tts

# bin/examples/loom-plugin-echo is the example plugin loom bench queue runs;
# it sits apart so loom serve --plugins bin does not serve it.
# The binaries are built as the Dockerfile builds them: static (CGO_ENABLED=0: the kernels are Go and Go
# assembly, nothing needs libc) and without gin's msgpack codec (-tags nomsgpack: no endpoint speaks
# msgpack) or gRPC's request tracing (-tags grpcnotrace: golang.org/x/net/trace, whose init registers
# /debug/requests and /debug/events on http.DefaultServeMux, which no Loom process serves; gRPC tracing is off
# unless grpc.EnableTracing is set, and Loom never sets it). Every process then starts smaller: no libc or
# ld.so pages, no ugorji codec tables built at init, no trace handlers, a binary 9 MB shorter (peak RSS in
# docs/BENCHMARKS.md, "Peak RSS of quantised models").
GOBUILD := CGO_ENABLED=0 $(GO) build -tags nomsgpack,grpcnotrace

build:
	@mkdir -p $(BIN)/examples
	$(GOBUILD) -o $(BIN)/loom ./cmd/loom
	@for p in $(PLUGINS); do $(GOBUILD) -o $(BIN)/loom-plugin-$$p ./plugins/$$p || exit 1; done
	$(GOBUILD) -o $(BIN)/examples/loom-plugin-echo ./examples/echo

MODEL_DIRS := models$(if $(wildcard ../shared/models),:../shared/models)

run: build
	$(BIN)/loom serve --addr :8080 --models $(MODEL_DIRS) --plugins $(BIN)

# The suite runs twice: with the SIMD kernels, and with -tags noasm so the
# generic fallbacks stay correct. A loopback redis-server is started for the
# Redis backend's conformance and failure tests.
test: deps build redis-up
	$(GO) vet ./...
	cd plugins/sdk && $(GO) vet ./... && $(GO) test -count=1 ./...
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -timeout 20m -tags noasm ./core/...
	$(MAKE) test-tools

# The training tools' unit tests (no training, no data: each runs in seconds) with
# Debian's torch and numpy, which tools/install-deps.sh installs for make test.
test-tools:
	cd tools/asr && OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest test_train test_make_data
	cd tools/video && OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest test_train test_average

# Issue 17's chaos suite (e2e/chaos_test.go) at full size: kill -9 of a worker, a
# plugin, the gateway and Redis mid-job, Redis down longer than a lease (40 jobs
# each, counted: finished once / lost / duplicated), and the bounded-load case (p50/p99,
# RSS per process before and after). make test runs the crash matrix with 6 jobs.
chaos:
	LOOM_CHAOS=1 LOOM_CHAOS_REPORT=$(CURDIR)/chaos-report.txt $(GO) test -count=1 -run 'TestChaos|TestPluginsDieWithTheirHost' -timeout 20m -v ./e2e/

# 30 minutes of mixed traffic on one loom serve, RSS of every process sampled each
# minute; fails unless each plateaus (±10 %) after the first 10 minutes.
SOAK ?= 30m
soak:
	LOOM_SOAK=$(SOAK) LOOM_SOAK_REPORT=$(CURDIR)/soak-report.txt $(GO) test -count=1 -run TestSoak -timeout 60m -v ./e2e/

# The official openai npm package (tools/openai-node, lockfile committed) against a
# fresh loom serve: the by-hand check of issue 18, not part of make test.
openai-node: build
	tools/openai-node/run.sh

# Issue 24's intelligibility table: every voice of models/loom-tts and its espeak-ng teacher speak the
# 120 held-out sentences of tools/tts/heldout_eval.txt; pocketsphinx's word error rate per voice, side by
# side (about 15 minutes on 2 cores). WER_SENTENCES=tools/tts/heldout_dev.txt for the development split,
# WER_ARGS="--voices fable --out /tmp/wer" for fewer voices or to keep the audio and transcripts.
WER_SENTENCES ?= tools/tts/heldout_eval.txt
wer-tts: deps build
	$(GO) build -o $(BIN)/tts-normtext ./tools/tts/normtext
	python3 tools/tts/wer.py --sentences $(WER_SENTENCES) --normtext $(BIN)/tts-normtext --models models $(WER_ARGS)

# deps installs the Debian packages the tests use as checkers when missing (apt-get, as root).
deps:
	tools/install-deps.sh

redis-up:
	@command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
	@redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 || redis-server --port $(REDIS_PORT) --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
	@for i in $$(seq 50); do redis-cli -p $(REDIS_PORT) ping >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo "redis did not start" >&2; exit 1

redis-down:
	-redis-cli -p $(REDIS_PORT) shutdown nosave

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 2x ./core/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt: $$out"; exit 1; }
	$(GO) vet ./...
	cd plugins/sdk && $(GO) vet ./...
	cd deploy && $(GO) vet ./...
	$(GO) vet -tags noasm ./core/...

proto:
	cd plugins/sdk && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative proto/loom/plugin/v1/plugin.proto

clean:
	rm -rf $(BIN)
