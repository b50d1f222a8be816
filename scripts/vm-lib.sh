# shellcheck shell=bash
# Shared by scripts/vm-run.sh and scripts/vm-test.sh (sourced, not run): fetches Debian's
# cloud kernels through apt with a private sources list and cache (the machine's own apt
# configuration is never touched), unpacks them, builds a busybox initramfs holding the
# modules virtio-fs needs, and boots one command in a qemu guest that sees the host's
# filesystem read-only (virtiofs, under a tmpfs overlay) and has no network device.

VM_CACHE=${KES_VM_CACHE:-/var/cache/keda-ebpf-scaler-vm}
VM_MEMORY_MB=${KES_VM_MEMORY_MB:-2048}
VM_CPUS=${KES_VM_CPUS:-2}
VIRTIOFSD=${KES_VM_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
# apt lists younger than this are reused as they are (reruns need no network at all).
VM_LISTS_MAX_AGE_MIN=${KES_VM_LISTS_MAX_AGE_MIN:-1440}

vm_die() {
  echo "vm: $*" >&2
  exit 1
}

# The kernel series this harness knows, and the Debian suites that carry each one.
vm_suites_of() {
  case "$1" in
    5.10) echo "bullseye bullseye-security" ;;
    6.1) echo "bookworm bookworm-security" ;;
    6.12) echo "trixie trixie-security" ;;
    *) return 1 ;;
  esac
}
VM_SERIES=(5.10 6.1 6.12)

# The host tools the VM path needs (scripts/vm-setup.sh installs them).
vm_require_tools() {
  local missing=()
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  [ -x "$VIRTIOFSD" ] || missing+=(qemu-system-common)
  # grep without -q: under pipefail, -q's early exit can kill busybox with SIGPIPE and fail the pipe
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -x insmod >/dev/null || missing+=(busybox-static)
  command -v depmod >/dev/null || missing+=(kmod)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v apt-get >/dev/null || missing+=(apt)
  if ((${#missing[@]})); then
    vm_die "missing host packages ${missing[*]}: run scripts/vm-setup.sh as root (or apt-get install -y --no-install-recommends ${missing[*]})."
  fi
  [ "$(id -u)" -eq 0 ] || vm_die "the VM harness needs root (virtiofsd shares / and the guest runs BPF as root); run it as root."
}

# Which accelerator to boot with, in VM_ACCEL (kvm or tcg) and why, in VM_ACCEL_WHY:
# KES_VM_ACCEL=kvm|tcg forces one; otherwise kvm when /dev/kvm boots a guest fast enough.
# A /dev/kvm that opens is not enough: a nested hypervisor may run a stock kernel so slowly
# that TCG wins by far (on this project's machines /dev/kvm is kvm_pvm, where a Debian
# kernel had not printed its first console line after minutes while TCG boots in seconds).
# So the first use boots a trivial job with KVM within KES_VM_KVM_BUDGET_S seconds and
# remembers the verdict per host kernel and qemu version under $VM_CACHE/accel.
VM_KVM_BUDGET_S=${KES_VM_KVM_BUDGET_S:-20}
vm_accel() {
  if [ -n "${KES_VM_ACCEL:-}" ]; then
    VM_ACCEL=$KES_VM_ACCEL
    VM_ACCEL_WHY="forced by KES_VM_ACCEL"
    return
  fi
  if ! [ -e /dev/kvm ] || ! python3 -c '
import fcntl, os, sys
fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
if fcntl.ioctl(fd, 0xAE00) != 12: sys.exit(1)  # KVM_GET_API_VERSION
os.close(fcntl.ioctl(fd, 0xAE01, 0))  # KVM_CREATE_VM
' 2>/dev/null; then
    VM_ACCEL=tcg
    VM_ACCEL_WHY="/dev/kvm is absent or cannot create a VM"
    return
  fi
  local key verdict
  key="$(uname -r)_qemu-$(qemu-system-x86_64 --version | sed -n '1s/^[^0-9]*\([0-9][^ ]*\).*/\1/p')"
  verdict=$VM_CACHE/accel/$key
  if [ ! -s "$verdict" ]; then
    mkdir -p "$VM_CACHE/accel"
    _vm_calibrate_kvm >"$verdict.tmp"
    mv "$verdict.tmp" "$verdict"
  fi
  VM_ACCEL=$(sed -n 1p "$verdict")
  VM_ACCEL_WHY=$(sed -n 2p "$verdict")
}

# Boots the 6.1 kernel with KVM running `true`; prints "kvm" or "tcg", then the reason.
_vm_calibrate_kvm() {
  local dir rc=0 t0=$SECONDS
  echo "vm: checking once whether KVM boots a guest within ${VM_KVM_BUDGET_S} s (host kernel $(uname -r))" >&2
  vm_kernel 6.1 >&2
  dir=$(mktemp -d /var/tmp/kes-vm-kvm.XXXXXX)
  printf 'exec true\n' >"$dir/job.sh"
  KES_VM_ACCEL=kvm vm_boot "$dir" "$VM_KVM_BUDGET_S" "$dir/job.sh" >&2 || rc=$?
  rm -rf "$dir"
  if [ "$rc" -eq 0 ]; then
    printf 'kvm\n/dev/kvm works: a KVM guest booted and ran a job in %s s\n' "$((SECONDS - t0))"
  else
    printf 'tcg\n/dev/kvm opens, but a KVM guest did not finish booting within %s s (nested or emulated KVM): TCG is faster here\n' "$VM_KVM_BUDGET_S"
  fi
}

_vm_apt_opts() {
  local d=$1
  echo "-o Dir::Etc::SourceList=$d/etc/sources.list -o Dir::Etc::SourceParts=$d/etc/sources.list.d \
-o Dir::Etc::Preferences=$d/etc/preferences -o Dir::Etc::PreferencesParts=$d/etc/preferences.d \
-o Dir::State=$d/state -o Dir::State::status=$d/state/status -o Dir::Cache=$d/cache \
-o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o Acquire::Languages=none \
-o APT::Sandbox::User=root -o Debug::NoLocking=1"
}

# vm_kernel SERIES: makes sure the newest cloud kernel of SERIES is fetched, unpacked and
# has an initramfs; sets VM_KDIR (unpacked package), VM_KVER (uname -r), VM_VMLINUZ and
# VM_INITRD (vm_die on failure). Everything lands under $VM_CACHE keyed by package version, so a rerun
# downloads nothing; with no network a cached kernel of the series is used.
vm_kernel() {
  local lock
  mkdir -p "$VM_CACHE"
  # One fetcher at a time: several harness runs (CI, a developer's vm-run) share the cache.
  exec {lock}>"$VM_CACHE/.lock"
  flock "$lock"
  _vm_kernel_locked "$@"
  exec {lock}>&-
}

_vm_kernel_locked() {
  local series=$1 suites d opts pkg version deb key
  suites=$(vm_suites_of "$series") || vm_die "unknown kernel series '$series' (--kernel): use one of ${VM_SERIES[*]}."
  d=$VM_CACHE/apt/$series
  mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial" "$d/etc/sources.list.d" "$d/etc/preferences.d" "$VM_CACHE/debs" "$VM_CACHE/kernels"
  touch "$d/state/status"
  : >"$d/etc/sources.list.new"
  for s in $suites; do
    local base=http://deb.debian.org/debian
    [[ $s == *-security ]] && base=http://deb.debian.org/debian-security
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $base $s main" >>"$d/etc/sources.list.new"
  done
  mv "$d/etc/sources.list.new" "$d/etc/sources.list"
  opts=$(_vm_apt_opts "$d")
  # shellcheck disable=SC2086
  if [ -z "$(find "$d/state/lists" -maxdepth 1 -name '*_Packages*' -mmin "-$VM_LISTS_MAX_AGE_MIN" 2>/dev/null | head -1)" ]; then
    # --error-on=any: without it apt-get update exits 0 when it could not reach the archive.
    if ! apt-get $opts -q -q --error-on=any update >"$d/update.log" 2>&1; then
      if [ -L "$VM_CACHE/kernels/latest-$series" ]; then
        echo "vm: could not reach Debian's archive for $series (apt-get update failed, see $d/update.log); using the cached kernel" >&2
        _vm_use_tree "$(readlink -f "$VM_CACHE/kernels/latest-$series")"
        return
      fi
      vm_die "could not fetch the $series kernel: apt-get update against deb.debian.org failed (no network to Debian's archive?); see $d/update.log."
    fi
  fi
  # shellcheck disable=SC2086
  pkg=$(apt-cache $opts depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1)
  [ -n "$pkg" ] || vm_die "no linux-image-cloud-amd64 in $suites (apt-cache depends found nothing; see $d/update.log)."
  # shellcheck disable=SC2086
  version=$(apt-cache $opts show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -1)
  key=${pkg}_${version}
  if [ ! -f "$VM_CACHE/kernels/$key/.complete" ]; then
    deb=$(find "$VM_CACHE/debs" -name "${pkg}_${version//:/%3a}_amd64.deb" | head -1)
    if [ -z "$deb" ]; then
      echo "vm: downloading $pkg $version" >&2
      # shellcheck disable=SC2086
      (cd "$VM_CACHE/debs" && apt-get $opts -q -q download "$pkg=$version" >"$d/download.log" 2>&1) ||
        vm_die "could not download $pkg $version from Debian's archive (see $d/download.log)."
      deb=$(find "$VM_CACHE/debs" -name "${pkg}_*_amd64.deb" -newer "$d/etc/sources.list" | head -1)
      [ -n "$deb" ] || deb=$(find "$VM_CACHE/debs" -name "${pkg}_*_amd64.deb" | sort -V | tail -1)
    fi
    _vm_unpack "$deb" "$VM_CACHE/kernels/$key"
  fi
  ln -sfn "$key" "$VM_CACHE/kernels/latest-$series"
  _vm_use_tree "$VM_CACHE/kernels/$key"
}

_vm_use_tree() {
  VM_KDIR=$1
  VM_VMLINUZ=$(find "$VM_KDIR/boot" -name 'vmlinuz-*' | head -1)
  [ -n "$VM_VMLINUZ" ] || vm_die "no vmlinuz in $VM_KDIR/boot."
  VM_KVER=${VM_VMLINUZ##*/vmlinuz-}
  _vm_initrd
}

# Unpacks the kernel package and runs depmod on its tree.
_vm_unpack() {
  local deb=$1 dir=$2 tmp kver
  tmp=$dir.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/root"
  dpkg-deb -x "$deb" "$tmp/root"
  # merged-/usr packages (trixie) put modules under usr/lib/modules; depmod -b wants lib/modules.
  if [ -d "$tmp/root/usr/lib/modules" ] && [ ! -e "$tmp/root/lib" ]; then ln -s usr/lib "$tmp/root/lib"; fi
  kver=$(find "$tmp/root/boot" -name 'vmlinuz-*' | head -1)
  kver=${kver##*/vmlinuz-}
  [ -n "$kver" ] || vm_die "$deb holds no vmlinuz."
  depmod -b "$tmp/root" "$kver"
  rm -rf "$dir"
  mv "$tmp/root" "$dir"
  rmdir "$tmp"
  touch "$dir/.complete"
}

# Builds the tree's initramfs (busybox, the virtio-fs modules, scripts/vm-init.sh as /init)
# unless one for this exact vm-init.sh exists; sets VM_INITRD.
_vm_initrd() {
  local init hash tmp n=0 line file base
  init=$(dirname "${BASH_SOURCE[0]}")/vm-init.sh
  hash=$(sha256sum "$init" /bin/busybox | sha256sum | cut -c1-16)
  VM_INITRD=$VM_KDIR/initrd-$hash.cpio.gz
  [ -s "$VM_INITRD" ] && return
  tmp=$(mktemp -d "$VM_KDIR/initrd.XXXXXX")
  mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/host" "$tmp/rw" "$tmp/newroot"
  cp /bin/busybox "$tmp/bin/busybox"
  : >"$tmp/modules/order"
  while read -r line; do
    [[ $line == insmod\ * ]] || continue # "builtin X" needs nothing
    file=${line#insmod }
    file=${file%% *}
    base=$(printf '%02d-%s' "$n" "$(basename "$file")")
    case "$file" in
      *.ko.xz) xz -dc "$file" >"$tmp/modules/${base%.xz}"; base=${base%.xz} ;;
      *.ko.zst) zstd -q -dc "$file" >"$tmp/modules/${base%.zst}"; base=${base%.zst} ;;
      *) cp "$file" "$tmp/modules/$base" ;;
    esac
    echo "$base" >>"$tmp/modules/order"
    n=$((n + 1))
  done < <(for m in virtio_pci virtiofs overlay; do modprobe -d "$VM_KDIR" -S "$VM_KVER" --show-depends "$m"; done | awk '!seen[$0]++')
  cp "$init" "$tmp/init"
  chmod +x "$tmp/init"
  (cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$VM_INITRD.tmp"
  rm -rf "$tmp"
  rm -f "$VM_KDIR"/initrd-*.cpio.gz "$VM_KDIR/initrd.cpio.gz"
  mv "$VM_INITRD.tmp" "$VM_INITRD"
}

# vm_boot OUT_DIR TIMEOUT_S JOB_SCRIPT: boots the current kernel (vm_kernel) running
# JOB_SCRIPT (a path on the host, visible at the same path in the guest) and waits for the
# guest to power off, at most TIMEOUT_S seconds. The job's stdout, stderr and exit status
# land in OUT_DIR/{stdout,stderr,status}, the kernel console in OUT_DIR/console.
# Returns 0 when the guest reported a status, 124 on timeout, 125 when it died without one.
vm_boot() {
  local out=$1 timeout_s=$2 job=$3 accel cpu sock ro rc
  vm_accel
  accel=$VM_ACCEL
  sock=$out/virtiofs.sock
  ro=$out/ro
  mkdir -p "$ro"
  : >"$out/stdout"
  : >"$out/stderr"
  : >"$out/status"
  # virtiofsd serves a read-only bind of / made in its own mount namespace: nothing is ever
  # mounted on the host, and the mount vanishes with the process.
  unshare -m --propagation private sh -c 'mount --bind / "$1" && mount -o remount,bind,ro "$1" && exec "$2" --socket-path="$3" -o source="$1" -o cache=always -o sandbox=namespace -o log_level=err' \
    vm-virtiofsd "$ro" "$VIRTIOFSD" "$sock" >"$out/virtiofsd.log" 2>&1 &
  VM_VIRTIOFSD_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [ -S "$sock" ] && break
    kill -0 "$VM_VIRTIOFSD_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -S "$sock" ]; then
    echo "vm: virtiofsd did not start: $(tail -3 "$out/virtiofsd.log")" >&2
    return 125
  fi
  if [ "$accel" = kvm ]; then cpu=host; else cpu=max; fi
  timeout -k 5 "$timeout_s" qemu-system-x86_64 \
    -accel "$accel" -machine q35 -cpu "$cpu" -smp "$VM_CPUS" -m "$VM_MEMORY_MB" \
    -object "memory-backend-memfd,id=mem,size=${VM_MEMORY_MB}M,share=on" -numa node,memdev=mem \
    -chardev "socket,id=vfs,path=$sock" -device vhost-user-fs-pci,chardev=vfs,tag=host \
    -kernel "$VM_VMLINUZ" -initrd "$VM_INITRD" \
    -append "console=ttyS0 loglevel=6 panic=-1 8250.nr_uarts=4 kes.job=$job" \
    -nodefaults -display none -monitor none -nic none -no-reboot \
    -serial "file:$out/console" -serial "file:$out/stdout" -serial "file:$out/stderr" -serial "file:$out/status" \
    </dev/null >"$out/qemu.log" 2>&1 &
  VM_QEMU_PID=$!
  wait "$VM_QEMU_PID" && rc=0 || rc=$?
  VM_QEMU_PID=
  kill "$VM_VIRTIOFSD_PID" 2>/dev/null || true
  wait "$VM_VIRTIOFSD_PID" 2>/dev/null || true
  VM_VIRTIOFSD_PID=
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then return 124; fi
  if ! grep -q '^status=' "$out/status"; then
    return 125
  fi
  return 0
}

# The guest sees the host's root filesystem only (a non-recursive bind of /): DIR must be
# on it, not on another mount.
vm_require_on_root() {
  local mnt
  mnt=$(findmnt -n -o TARGET --target "$1" 2>/dev/null || echo "?")
  [ "$mnt" = / ] || vm_die "$1 is on the mount $mnt, which the guest cannot see (only / is shared): use a directory on the root filesystem."
}

# Kills what vm_boot started (for traps).
vm_cleanup() {
  if [ -n "${VM_QEMU_PID:-}" ]; then kill "$VM_QEMU_PID" 2>/dev/null || true; fi
  if [ -n "${VM_VIRTIOFSD_PID:-}" ]; then kill "$VM_VIRTIOFSD_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
