import type { CollectorCore, WakeupEvent } from '../../src/collector/core.js';
import { sleep } from './kernel-collector.js';
import { refusedConnect } from './sockets.js';

/** One demand wake-up: what woke user space and how long after connect() it did. */
export interface WakeupTrial {
  readonly latencyMs: number;
  readonly events: readonly WakeupEvent[];
}

/**
 * Re-arms every demand target (two idle ticks: the first reports the previous attempt, the
 * second re-arms), makes one refused connect() to host:port and waits up to `budgetMs` for
 * the collector's wake-up callback. Undefined when nobody woke in time.
 */
export async function demandWakeupTrial(core: CollectorCore, host: string, port: number, budgetMs: number): Promise<WakeupTrial | undefined> {
  core.readTick();
  core.readTick();
  const woke = new Promise<{ at: bigint; events: readonly WakeupEvent[] }>((resolve) => {
    const off = core.onWakeup((events) => {
      off();
      resolve({ at: process.hrtime.bigint(), events });
    });
  });
  const start = process.hrtime.bigint();
  const attempt = refusedConnect(host, port);
  const result = await Promise.race([woke, sleep(budgetMs).then(() => undefined)]);
  await attempt;
  return result && { latencyMs: Number(result.at - start) / 1e6, events: result.events };
}
