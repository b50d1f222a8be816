import path from 'node:path';
import { BpfObject } from '../../src/bpf/object.js';
import { DEFAULT_BPF_OBJECT } from '../../src/collector/core.js';

/**
 * The measuring floor of kernel.bpf_stats_enabled: an empty program on sk_data_ready, built
 * into its own object (build/bpf/bench_floor.bpf.o) so the collector's object never ships it.
 * Its average run time is what bpf_stats itself adds to every run.
 */
export const FLOOR_PROGRAM = 'bench_floor_tp_btf';
export const FLOOR_OBJECT = path.join(path.dirname(DEFAULT_BPF_OBJECT), 'bench_floor.bpf.o');

export interface FloorProgram {
  readonly id: number;
  close(): void;
}

export function attachFloorProgram(): FloorProgram {
  const object = BpfObject.open(FLOOR_OBJECT);
  try {
    object.loadOnly([FLOOR_PROGRAM]);
    object.load();
    object.attach(FLOOR_PROGRAM);
    return { id: object.programId(FLOOR_PROGRAM), close: () => object.close() };
  } catch (err) {
    object.close();
    throw err;
  }
}
