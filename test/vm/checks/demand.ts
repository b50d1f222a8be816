import { targetOf } from '../../helpers/kernel-collector.js';
import { demandWakeupTrial } from '../../helpers/demand-wakeup.js';
import { BLOCKING_CONNECTS } from '../../helpers/sockets.js';
import { WAKEUP_BUDGET_MS, type GuestCheck } from './context.js';

const DEMAND_PORT = 18931;

/** (c) demand: refused connects wake the target and count once, blocking ones included. */
export async function wakeup({ core, host, args, problems }: GuestCheck): Promise<number> {
  core.applyWatchSet([{ targetId: 'demand', servers: [], demand: [{ ip: '127.0.0.1', port: DEMAND_PORT }] }]);
  const latenciesMs: number[] = [];
  for (let trial = 0; trial < args['wakeup-trials']; trial++) {
    const result = await demandWakeupTrial(core, '127.0.0.1', DEMAND_PORT, WAKEUP_BUDGET_MS);
    if (!result) {
      problems.push(`demand wake-up: trial ${trial} woke nobody within ${WAKEUP_BUDGET_MS} ms`);
      return Number.NaN;
    }
    if (result.events[0]?.targetId !== 'demand') problems.push(`demand wake-up: woke ${result.events.map((e) => e.targetId).join(',')} instead of demand`);
    latenciesMs.push(result.latencyMs);
  }
  const tick = targetOf(core.readTick().targets, 'demand');
  if (tick.demandAttempts !== 1 || tick.demandRefused !== 1) {
    problems.push(`demand: last tick counted ${tick.demandAttempts} attempts / ${tick.demandRefused} refused, expected 1 / 1`);
  }
  // Blocking connects refused by a RST: the kernel clears their destination port before
  // release, so only the connect() mark's SYN_SENT flag (set by the demand program) keeps
  // the release program from counting them a second time.
  const refusedBlocking = await host.run('python3', ['-c', BLOCKING_CONNECTS, '127.0.0.1', String(DEMAND_PORT), '3']);
  const blocking = targetOf(core.readTick().targets, 'demand');
  if (refusedBlocking.trim() !== '3' || blocking.demandAttempts !== 3 || blocking.demandRefused !== 3) {
    problems.push(`demand: 3 blocking connects (${refusedBlocking.trim()} refused) counted ${blocking.demandAttempts} attempts / ${blocking.demandRefused} refused, expected 3 / 3`);
  }
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return Math.round(sorted[sorted.length >> 1]! * 100) / 100;
}
