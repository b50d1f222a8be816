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
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}; run this script as root (or apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
npm run build >&2
