#!/usr/bin/env bash
# Runs one command inside a qemu guest booted with a Debian cloud kernel, against a project
# directory of this machine (shared read-only; writes land in a tmpfs overlay and vanish):
#
#   scripts/vm-run.sh --kernel 6.1 [--project DIR] [--timeout SECONDS] -- node dist/cli.js probe
#
# --kernel: 5.10 (bullseye), 6.1 (bookworm) or 6.12 (trixie); the newest cloud kernel of
# that series is fetched once through apt into /var/cache/keda-ebpf-scaler-vm
# (KES_VM_CACHE). --project defaults to this repository; the command runs there as root.
# KVM is used when /dev/kvm works, TCG otherwise (KES_VM_ACCEL=tcg|kvm forces one).
# The guest has no network device, only loopback. Exit status: the command's, 124 when the
# guest ran out of time, 125 when it died without reporting one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/vm-lib.sh
source "$here/vm-lib.sh"

usage() {
  echo "usage: scripts/vm-run.sh --kernel SERIES [--project DIR] [--timeout SECONDS] [--keep] -- COMMAND [ARG...]" >&2
  exit 2
}

kernel=
project=$(cd "$here/.." && pwd)
timeout_s=${KES_VM_TIMEOUT_S:-600}
keep=0
while (($#)); do
  case "$1" in
    --kernel) kernel=${2:-}; shift 2 ;;
    --project) project=${2:-}; shift 2 ;;
    --timeout) timeout_s=${2:-}; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    -h | --help) usage ;;
    *) echo "vm-run: unknown argument '$1'" >&2; usage ;;
  esac
done
(($#)) || usage
[ -n "$kernel" ] || { echo "vm-run: --kernel is required (one of ${VM_SERIES[*]})" >&2; exit 2; }
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "vm-run: --timeout '$timeout_s' is not a number of seconds" >&2; exit 2; }
[ -d "$project" ] || { echo "vm-run: --project '$project' is not a directory" >&2; exit 2; }
project=$(cd "$project" && pwd)

vm_require_tools
vm_require_on_root "$project"
vm_accel
vm_kernel "$kernel"

# The job script must live on the root filesystem (the guest sees / only, not other mounts).
vm_require_on_root /var/tmp
work=$(mktemp -d /var/tmp/kes-vm.XXXXXX)
cleanup() {
  vm_cleanup
  if [ "$keep" = 1 ]; then echo "vm-run: guest output kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
{
  echo "cd $(printf '%q' "$project") || exit 126"
  printf 'exec'
  printf ' %q' "$@"
  echo
} >"$work/job.sh"

echo "vm-run: kernel $VM_KVER, ${VM_ACCEL^^} ($VM_ACCEL_WHY), project $project" >&2
rc=0
vm_boot "$work" "$timeout_s" "$work/job.sh" || rc=$?
cat "$work/stdout"
cat "$work/stderr" >&2
case $rc in
  0)
    status=$(sed -n 's/^status=\([0-9]*\).*/\1/p' "$work/status" | head -1)
    if grep -q reason= "$work/status"; then
      echo "vm-run: the guest could not run the command: $(sed -n 's/.*reason=//p' "$work/status")" >&2
      tail -20 "$work/console" >&2
    fi
    exit "${status:-125}"
    ;;
  124)
    echo "vm-run: the guest ($VM_KVER) did not finish within ${timeout_s} s (--timeout); last console lines:" >&2
    tail -20 "$work/console" >&2
    exit 124
    ;;
  *)
    echo "vm-run: the guest ($VM_KVER) stopped without reporting a status; last console lines:" >&2
    tail -20 "$work/console" "$work/qemu.log" >&2
    exit 125
    ;;
esac
