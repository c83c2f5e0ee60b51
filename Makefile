# One command for each routine task. `make run` and `make test` install what they need first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
TSAN_DIR ?= build-tsan
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# ccache: paths relative to the checkout and the working directory left out of the hash, so a
# fresh clone elsewhere (CI) reuses what an earlier build compiled, debug builds included.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= true

.PHONY: setup build run test unit integration asan test-sanitizers tsan test-tsan fuzz fuzz-smoke fuzz-long bench bench-mcp bench-costs bench-h2 bench-streams bench-bodies bench-peers soak format clean

setup:
	@bash scripts/setup.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DAIGW_WERROR=ON $(CMAKE_FLAGS)

build: setup $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@bash scripts/run.sh

test: build
	@bash scripts/test.sh

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

integration: build
	cd tests/e2e && AIGW_BIN=$(CURDIR)/$(BUILD_DIR)/aigw TESTUPSTREAM_BIN=$(CURDIR)/$(BUILD_DIR)/testupstream node --test --test-concurrency=1 integration/ e2e/

asan: setup
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAIGW_SANITIZE=ON -DAIGW_WERROR=ON -DAIGW_BENCH=OFF
	cmake --build $(ASAN_DIR) -j $(JOBS)

# Unit and integration suites against the AddressSanitizer + UBSan build.
test-sanitizers: asan
	BUILD_DIR=$(ASAN_DIR) AIGW_SANITIZED=1 bash scripts/test.sh

tsan: setup
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIGW_TSAN=ON -DAIGW_WERROR=ON -DAIGW_BENCH=OFF
	cmake --build $(TSAN_DIR) -j $(JOBS)

# Unit and integration suites against the ThreadSanitizer build: the workers, the access-log and
# exporter threads, the admin thread, reloads under traffic.
test-tsan: tsan
	BUILD_DIR=$(TSAN_DIR) AIGW_SANITIZED=1 AIGW_TSAN=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/scripts/tsan.supp" bash scripts/test.sh

fuzz: setup
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-19 -DAIGW_FUZZ=ON -DAIGW_TESTS=OFF -DAIGW_BENCH=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_json_scan fuzz_sse fuzz_request_body fuzz_request_head fuzz_cel fuzz_aws_eventstream fuzz_provider_stream fuzz_multipart fuzz_sse_filter fuzz_messages_stream fuzz_mcp fuzz_stream_guard

# Each fuzz target for a short, bounded run from its seed corpus.
fuzz-smoke: fuzz
	bash fuzz/smoke.sh $(FUZZ_DIR)

# Each fuzz target until it has run FUZZ_RUNS inputs (default ten million), growing the corpus
# kept in fuzz/corpus; prints executions and coverage per target.
fuzz-long: fuzz
	FUZZ_RUNS=$${FUZZ_RUNS:-10000000} bash fuzz/smoke.sh $(FUZZ_DIR)

bench: build
	@bash bench/run.sh

# MCP tools/call through the MCP gateway against straight to the MCP server.
bench-mcp: build
	@bash bench/mcp.sh

# Syscalls and allocations per request, aigw next to nginx (also at the end of make bench).
bench-costs: build
	@bash bench/costs.sh

# HTTP/2 clients with h2load, aigw next to nginx's http2 listener (also at the end of make bench).
bench-h2: build
	@bash bench/h2.sh

# Many concurrent slow SSE streams: memory while they run and after, CPU per relayed chunk.
bench-streams: build
	@bash bench/streams.sh

# 10 MB chat requests: the latency each path adds, memory per request in flight.
bench-bodies: build
	@bash bench/bodies.sh

# Another AI gateway (Portkey's, npm) on the same mock, beside aigw.
bench-peers: build
	@bash bench/peers.sh

# A bounded soak (DURATION seconds, default 600) at 80% of the measured maximum rate.
soak: build
	@bash bench/soak.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) $(TSAN_DIR)
