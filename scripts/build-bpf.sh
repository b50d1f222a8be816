#!/usr/bin/env bash
# Builds the eBPF programs: bpf/vmlinux.h from this kernel's BTF (bpftool), then
# bpf/scaler.bpf.c (which includes every concern's .bpf.c, so maps are shared and one load
# suffices) compiled with clang for the BPF target into build/bpf/scaler.bpf.o, and the
# benchmarks' measuring-floor program into its own build/bpf/bench_floor.bpf.o (not shipped), and
# the tests' refusing cgroup/connect4 program into build/bpf/lb_refuse_connect.bpf.o (not shipped).
# Installs nothing: a missing tool is one sentence naming the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

btf=/sys/kernel/btf/vmlinux
out=build/bpf
CLANG=${CLANG:-clang}
BPFTOOL=${BPFTOOL:-bpftool}

if ! command -v "$CLANG" >/dev/null || ! command -v "$BPFTOOL" >/dev/null || [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: clang, bpftool or the libbpf headers are missing; install the Debian packages clang llvm libbpf-dev bpftool (apt-get install -y clang llvm libbpf-dev bpftool)." >&2
  exit 1
fi
if [ ! -r "$btf" ]; then
  echo "build-bpf: $btf is missing: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF=y is required for CO-RE)." >&2
  exit 1
fi

mkdir -p "$out"
# Regenerate vmlinux.h only when the kernel's BTF changed (it is 100k+ lines).
if [ ! -s bpf/vmlinux.h ] || [ "$btf" -nt bpf/vmlinux.h ]; then
  "$BPFTOOL" btf dump file "$btf" format c > bpf/vmlinux.h.tmp
  mv bpf/vmlinux.h.tmp bpf/vmlinux.h
fi

arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/s390x/s390/')
compile() {
  "$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_"$arch" -Wall -Werror \
    -Ibpf -I/usr/include/"$(uname -m)"-linux-gnu -c "bpf/$1.bpf.c" -o "$out/$1.bpf.o"
  echo "build-bpf: $out/$1.bpf.o" >&2
}
compile scaler
# 5.10's BTF loader rejects a DATASEC naming no variable, and without BTF no sk_storage map
# can be created: an initializer clang copies from an anonymous .rodata must not ship.
if "$BPFTOOL" btf dump file "$out/scaler.bpf.o" | grep -q "DATASEC '.rodata' size=0 vlen=0"; then
  echo "build-bpf: $out/scaler.bpf.o has an anonymous .rodata section (a struct initializer with constants, e.g. '= { .field = 1 }'); zero-initialize and assign instead, or kernel 5.10 cannot load it." >&2
  exit 1
fi
compile bench_floor
compile lb_refuse_connect # test fixture: a socket-level load balancer refusing connect()
