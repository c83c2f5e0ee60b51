#!/usr/bin/env bash
# Runs every test against the release build: unit (ctest), then integration and e2e (node:test,
# real aigw and testupstream binaries, official openai SDK). BUILD_DIR selects another build
# (the sanitizer build, for example).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}

echo "== function lengths (src/: none over 150 lines)"
python3 scripts/function_lengths.py 150 src

echo "== unit tests ($BUILD_DIR)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$(nproc)")

echo "== fake providers self-test (their wire formats and validation)"
node --test --test-reporter=dot tools/fakeproviders/selftest.mjs

echo "== integration and e2e tests ($BUILD_DIR)"
export AIGW_BIN="$PWD/$BUILD_DIR/aigw"
export TESTUPSTREAM_BIN="$PWD/$BUILD_DIR/testupstream"
cd tests/e2e
node --test --test-concurrency=1 --test-reporter=spec integration/*.test.mjs e2e/*.test.mjs
