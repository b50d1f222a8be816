import fs from 'node:fs';
import { CollectorCore, DEFAULT_BPF_OBJECT, type CollectorCoreOptions } from '../../src/collector/core.js';
import { createLogger } from '../../src/log.js';
import type { TargetDelta } from '../../src/collector/types.js';
import { requireRoot } from './netns.js';

/** Root and a built BPF object, or a clear message saying what to do. */
export function requireBpfObject(): string {
  requireRoot();
  if (!fs.existsSync(DEFAULT_BPF_OBJECT)) {
    throw new Error(`${DEFAULT_BPF_OBJECT} is missing: run \`npm run build:bpf\` first`);
  }
  return DEFAULT_BPF_OBJECT;
}

/** Opens the real collector core, failing with a clear message when it cannot. */
export function openCollector(options: Omit<CollectorCoreOptions, 'logger'> = {}): CollectorCore {
  requireBpfObject();
  return CollectorCore.open({ ...options, logger: createLogger(process.env.KES_TEST_LOG === '1' ? 'debug' : 'silent') });
}

export function targetOf(targets: readonly TargetDelta[], targetId: string): TargetDelta {
  const t = targets.find((d) => d.targetId === targetId);
  if (!t) throw new Error(`target ${targetId} missing from the tick`);
  return t;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Makes one server (port in a network namespace) the only watched target, counting from now. */
export function watchOnly(core: CollectorCore, netnsInode: number, targetId: string, port: number): void {
  core.applyWatchSet([{ targetId, servers: [{ port, netnsInode }], demand: [] }]);
  core.readTick();
}
