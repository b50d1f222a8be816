#!/usr/bin/env bash
# What the VM matrix (scripts/vm-test.sh, scripts/vm-run.sh) needs beyond scripts/setup.sh:
# qemu (qemu-system-x86; qemu-system-common ships virtiofsd), a static busybox for the
# guest's initramfs, kmod (depmod/modprobe against the unpacked kernel trees), cpio and
# the decompressors for .ko.xz/.ko.zst modules, and Debian's archive keys (bullseye and
# trixie kernels are fetched with their signatures checked). Installs only what is missing.
set -euo pipefail

packages=(qemu-system-x86 qemu-system-common busybox-static kmod cpio xz-utils zstd debian-archive-keyring python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "vm-setup: missing Debian packages: ${missing[*]}; run this script as root (or apt-get install -y --no-install-recommends ${missing[*]})" >&2
    exit 1
  fi
  echo "vm-setup: installing ${missing[*]}" >&2
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
