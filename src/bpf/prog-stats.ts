import { closeSync, readFileSync } from 'node:fs';
import { BpfError, errnoOf } from './errors.js';
import { libbpf } from './libbpf.js';

/**
 * Run statistics of a loaded BPF program by kernel id (struct bpf_prog_info run_time_ns and
 * run_cnt, include/uapi/linux/bpf.h). The kernel only counts while the sysctl
 * kernel.bpf_stats_enabled is 1 (it costs two clock reads per run), so callers check
 * bpfStatsEnabled() first.
 */
export interface ProgramRunStats {
  readonly runTimeNs: bigint;
  readonly runCount: bigint;
}

/** Offsets in struct bpf_prog_info (stable uapi, since Linux 5.1). */
const RUN_TIME_NS_OFFSET = 192;
const RUN_CNT_OFFSET = 200;
const PROG_INFO_BYTES = 256;

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export function bpfStatsEnabled(): boolean {
  try {
    return readFileSync(STATS_SYSCTL, 'utf8').trim() === '1';
  } catch {
    return false;
  }
}

export function programRunStats(id: number): ProgramRunStats {
  const lib = libbpf();
  const fd = lib.bpf_prog_get_fd_by_id(id);
  if (fd < 0) throw new BpfError('map-read', `program id ${id}`, errnoOf(fd, lib.errno()));
  try {
    const info = Buffer.alloc(PROG_INFO_BYTES);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(info.length);
    const ret = lib.bpf_obj_get_info_by_fd(fd, info, len);
    if (ret !== 0) throw new BpfError('map-read', `info of program id ${id}`, errnoOf(ret, lib.errno()));
    return { runTimeNs: info.readBigUInt64LE(RUN_TIME_NS_OFFSET), runCount: info.readBigUInt64LE(RUN_CNT_OFFSET) };
  } finally {
    closeSync(fd);
  }
}
