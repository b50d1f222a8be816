#!/usr/bin/env bash
# The VM matrix (issue 12; also `npm run test:vm`): boots each Debian cloud kernel series
# under qemu (scripts/vm-run.sh's machinery, scripts/vm-lib.sh) and runs, against the built
# project, `node dist/cli.js probe` and test/vm/guest-check.ts, which forces every hook
# rung in turn and checks request timing, the keep-alive race, the demand wake-up, listen-
# queue overflow, HTTP/2 timed by protocol framing, `Expect: 100-continue` uploads (the
# interim response ends nothing), holdAtZero and half-closing clients (a request's bytes
# and the FIN in one segment). Prints one line per kernel and rung,
# compares with test/vm/expected.json (exit 1 on any mismatch) and the total time
# (2.5-4.5 minutes with TCG once the kernels are cached).
#
#   scripts/vm-test.sh [--project DIR] [--kernels "5.10 6.1 6.12"] [--timeout SECONDS]
#                      [--log-dir DIR] [--expected FILE]
#
# --project: a built checkout (npm run build) holding test/vm; default this repository.
# --timeout: per guest (qemu is killed after it); default 600.
# --log-dir: where each guest's stdout/stderr (libbpf's verifier logs)/console are kept;
#            default /var/tmp/keda-ebpf-scaler-vm-test.
# KES_VM_ACCEL=kvm|tcg forces the accelerator; KES_VM_CACHE moves the kernel cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=scripts/vm-lib.sh
source "$here/vm-lib.sh"

project=$repo
kernels="${VM_SERIES[*]}"
timeout_s=600
log_dir=/var/tmp/keda-ebpf-scaler-vm-test
expected=$repo/test/vm/expected.json
while (($#)); do
  case "$1" in
    --project) project=${2:-}; shift 2 ;;
    --kernels) kernels=${2:-}; shift 2 ;;
    --timeout) timeout_s=${2:-}; shift 2 ;;
    --log-dir) log_dir=${2:-}; shift 2 ;;
    --expected) expected=${2:-}; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vm-test: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "vm-test: --timeout '$timeout_s' is not a number of seconds" >&2; exit 2; }
[ -d "$project" ] || { echo "vm-test: --project '$project' is not a directory" >&2; exit 2; }
project=$(cd "$project" && pwd)
for f in dist/cli.js build/bpf/scaler.bpf.o test/vm/guest-check.ts node_modules/tsx; do
  [ -e "$project/$f" ] || { echo "vm-test: $project/$f is missing: build the project first (npm ci && npm run build) and make sure it has test/vm (--project)." >&2; exit 2; }
done
[ -f "$expected" ] || { echo "vm-test: expectation file $expected is missing (--expected)" >&2; exit 2; }

started=$SECONDS
bash "$here/vm-setup.sh"
vm_require_tools
vm_require_on_root "$project"
vm_require_on_root /var/tmp
vm_accel
accel=$VM_ACCEL
echo "vm-test: accelerator ${accel^^}: $VM_ACCEL_WHY"

mkdir -p "$log_dir"
work=$(mktemp -d /var/tmp/kes-vm-test.XXXXXX)
cleanup() {
  vm_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for series in $kernels; do
  rm -f "$log_dir/$series".*
  vm_kernel "$series"
  run=$work/$series
  mkdir -p "$run"
  printf 'cd %q || exit 126\nexec node --disable-wasm-trap-handler --import tsx test/vm/guest-check.ts\n' "$project" >"$run/job.sh"
  t0=$SECONDS
  # Under TCG, V8's WebAssembly trap handler (guard pages + SIGSEGV, used by tsx's lexer)
  # misfired: node died of SIGSEGV or "wasm memory access out of bounds" in 2 of 5 6.12
  # guests. The job runs node with --disable-wasm-trap-handler (explicit bounds checks; 0 of
  # 3 since). Should node still die of SIGSEGV, the guest is booted again, up to 3 boots in
  # all (two boots in a row crashed in 3 of the matrix runs logged here, each within seconds
  # of node's start, before any check ran), and the summary says so; a refused or failing
  # rung prints its row and is never retried. Node dying of SIGILL ("Illegal instruction",
  # exit 132) is the same kind of TCG fault and retried alike: a 6.1 guest at 02:11 UTC on
  # 4 December, 5 s after node started, before the probe line; 1 of about 130 boots logged
  # here. So is the bounds fault the trap handler used to raise, still seen once without
  # it: exit 1 with tsx's lexer throwing "RuntimeError: memory access out of bounds" from
  # wasm (a 6.1 guest at 17:26 UTC on 4 December, 11 s after boot, before the probe line;
  # the next matrix run passed); it is retried when that is what the guest's stderr says.
  # A crash that repeats on every boot still fails the series.
  for attempt in 1 2 3; do
    echo "vm-test: booting $VM_KVER ($series) with ${accel^^}" >&2
    boot=0
    KES_VM_ACCEL=$accel vm_boot "$run" "$timeout_s" "$run/job.sh" || boot=$?
    guest_exit=$(sed -n 's/^status=\([0-9]*\).*/\1/p' "$run/status" 2>/dev/null | head -1)
    case "$guest_exit" in
      139) fault=SIGSEGV ;;
      132) fault=SIGILL ;;
      1) grep -q 'RuntimeError]*: memory access out of bounds' "$run/stderr" 2>/dev/null && grep -q 'at wasm://wasm/' "$run/stderr" || break
        fault='a WebAssembly bounds fault' ;;
      *) break ;;
    esac
    [ "$attempt" -lt 3 ] || break
    echo "vm-test: node died of $fault in the $series guest (a TCG emulation fault); booting it again (boot $((attempt + 1)) of at most 3)" >&2
    for f in stdout stderr console; do cp "$run/$f" "$log_dir/$series.crashed$attempt.$f" 2>/dev/null || true; done
    rm -f "$run/stdout" "$run/stderr" "$run/console" "$run/status"
  done
  for f in stdout stderr console; do cp "$run/$f" "$log_dir/$series.$f"; done
  {
    echo "series=$series"
    echo "kernel=$VM_KVER"
    echo "boot=$boot"
    echo "guestExit=$guest_exit"
    echo "attempts=$attempt"
    echo "seconds=$((SECONDS - t0))"
  } >"$log_dir/$series.meta"
done

rc=0
(cd "$repo" && node --import tsx test/vm/summarize.ts --log-dir "$log_dir" --expected "$expected" --series "$kernels") || rc=$?
echo "vm-test: matrix of ${kernels// /, } took $((SECONDS - started)) s with ${accel^^} (guest logs, verifier output included: $log_dir)"
exit "$rc"
