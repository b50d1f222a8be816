#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs to build, test and run keda-ebpf-scaler:
# Debian packages (only those missing), npm dependencies, then the build. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  clang llvm libbpf-dev libbpf1 bpftool   # BPF build and runtime
  iproute2 libcap2-bin                    # network namespaces as pods; capsh for capability tests
  iptables                                # kube-proxy's REJECT rule in the holdAtZero ordering test
  nginx libnginx-mod-http-echo wrk  # real servers and load for tests, demo and benchmarks
  nghttp2-client                          # h2load: gRPC load cheaper than the scaler it measures (bench)
  python3-grpcio                          # a second gRPC implementation for contract tests
  python3-protobuf                        # protobuf's own descriptor pool, to check the served descriptors
  protobuf-compiler                       # protoc: the FileDescriptorSet reflection serves (npm run check:proto)
  prometheus                              # promtool and a real Prometheus server for the metrics tests
  openssl                                 # certificates for the TLS/mTLS tests
)
# shellcheck source=scripts/install-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
install_missing setup "${packages[@]}"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
npm run build >&2
