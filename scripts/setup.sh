#!/usr/bin/env bash
# Installs everything the build, tests and benchmarks need on Debian 12. Idempotent: a no-op when
# everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-all-dev libssl-dev zlib1g-dev libbrotli-dev libnghttp2-dev ca-certificates
  libsimdjson-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-19 libclang-rt-19-dev
  libhiredis-dev redis-server tzdata
  nginx-light wrk curl openssl python3 nodejs prometheus strace nghttp2-client
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  chromium fonts-dejavu-core
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm ships with the nodesource nodejs package; Debian's own nodejs needs the npm package.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm
fi

# Envoy's official protos for `aigw extproc` (npm @grpc/grpc-js-xds, pinned in the lock file).
if [[ ! -d third_party/envoy-protos/node_modules/@grpc/grpc-js-xds ]] ||
  [[ third_party/envoy-protos/package.json -nt third_party/envoy-protos/node_modules/.stamp ]]; then
  (cd third_party/envoy-protos && npm ci --no-audit --no-fund --loglevel=error &&
    touch node_modules/.stamp)
fi

# e2e test dependencies (official SDKs), pinned in tests/e2e/package-lock.json.
# (The official openai SDK, the Vercel AI SDK and LangChain, the AWS signer the fake providers use,
# puppeteer-core for the admin dashboard's test in Debian's Chromium.)
if [[ ! -d tests/e2e/node_modules/openai ]] || [[ tests/e2e/package.json -nt tests/e2e/node_modules/.stamp ]] ||
  [[ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.stamp ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
fi
