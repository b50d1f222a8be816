#!/bin/busybox sh
# /init of the VM harness's initramfs (scripts/vm-lib.sh builds it; busybox only). Loads
# the virtio-fs modules, mounts the host's filesystem read-only under a tmpfs overlay,
# mounts what the collector needs (proc, sys, bpffs, tracefs, cgroup2), brings loopback up,
# runs the job named by kes.job= on the kernel command line and powers off. The job's
# stdout/stderr go to ttyS1/ttyS2, its exit status to ttyS3; the console (ttyS0) keeps
# the kernel log.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

fail() {
  echo "vm-init: $*"
  echo "status=125 reason=$*" >/dev/ttyS3
  poweroff -f
}

for m in $(cat /modules/order); do
  insmod "/modules/$m" || fail "insmod $m failed"
done
job=$(sed -n 's/.*kes\.job=\([^ ]*\).*/\1/p' /proc/cmdline)
mount -t virtiofs -o ro host /host || fail "mounting the virtiofs share failed"
mount -t tmpfs -o size=1g tmpfs /rw || fail "tmpfs for the overlay failed"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sys $r/sys
mount -t devtmpfs dev $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
mount -t tmpfs tmpfs $r/run
mount -t bpf bpf $r/sys/fs/bpf 2>/dev/null
mount -t tracefs tracefs $r/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs $r/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup 2>/dev/null
ip link set lo up
hostname kes-vm
for t in 1 2 3; do stty -F /dev/ttyS$t raw -echo 2>/dev/null; done

[ -f "$r$job" ] || fail "job script $job not found in the shared filesystem"
chroot $r /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  /bin/sh "$job" </dev/null >/dev/ttyS1 2>/dev/ttyS2
echo "status=$?" >/dev/ttyS3
sync
poweroff -f
