#!/usr/bin/env bash
# What the VM matrix (scripts/vm-test.sh, scripts/vm-run.sh) needs beyond scripts/setup.sh:
# qemu (qemu-system-x86; qemu-system-common ships virtiofsd), a static busybox for the
# guest's initramfs, kmod (depmod/modprobe against the unpacked kernel trees), cpio and
# the decompressors for .ko.xz/.ko.zst modules, and Debian's archive keys (bullseye and
# trixie kernels are fetched with their signatures checked). Installs only what is missing.
set -euo pipefail

packages=(qemu-system-x86 qemu-system-common busybox-static kmod cpio xz-utils zstd debian-archive-keyring python3)
# shellcheck source=scripts/install-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/install-packages.sh"
install_missing vm-setup "${packages[@]}"
