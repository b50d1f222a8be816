import net from 'node:net';
import type { WatchEntry } from '../../../src/collector/types.js';
import { sleep, targetOf } from '../../helpers/kernel-collector.js';
import { trackedConnect } from '../../helpers/sockets.js';
import { WAKEUP_BUDGET_MS, type GuestCheck, type OkResult } from './context.js';

const HOLD_PORT = 8120;
/** Held clients connect at their first SYN retransmission after "ready" (1 s, then 3 s after the first SYN). */
const HOLD_RELEASE_BUDGET_MS = 6000;

type HoldResult = NonNullable<OkResult['hold']>;

/** (g) holdAtZero: held at zero, woken by listen(), released on ready; null where its programs did not attach. */

export async function holdAtZero({ core, problems }: GuestCheck): Promise<HoldResult | null> {
  if (!core.hold) return null;
  const entry = (ready: boolean): WatchEntry => ({
    targetId: 'held',
    servers: [{ port: HOLD_PORT }],
    demand: [{ ip: '127.0.0.1', port: HOLD_PORT }],
    hold: { holdAtZeroMs: 20_000, ready },
  });
  const clients: ReturnType<typeof trackedConnect>[] = [];
  const server = net.createServer((c) => c.on('error', () => undefined).end('x'));
  try {
    core.applyWatchSet([entry(false)]);
    core.readTick();
    for (let i = 0; i < 3; i++) clients.push(trackedConnect('127.0.0.1', HOLD_PORT));
    const outcomes = (): string[] => clients.map((c) => c.outcome());
    await sleep(300);
    const before = targetOf(core.readTick().targets, 'held');
    if (outcomes().some((o) => o !== 'waiting')) problems.push(`hold: before the target was ready the clients were ${outcomes().join(', ')}, not all waiting`);
    if (before.heldConnections !== 3 || before.demandAttempts !== 3) problems.push(`hold: ${before.heldConnections} held and ${before.demandAttempts} demand attempts counted for 3 connects`);

    const listenedAt = process.hrtime.bigint();
    const woke = new Promise<number>((resolve) => {
      const off = core.onWakeup((events) => {
        if (!events.some((e) => e.targetId === 'held')) return;
        off();
        resolve(Number(process.hrtime.bigint() - listenedAt) / 1e6);
      });
    });
    await new Promise<void>((resolve) => server.listen(HOLD_PORT, '127.0.0.1', resolve));
    const wakeupMs = await Promise.race([woke, sleep(WAKEUP_BUDGET_MS).then(() => Number.NaN)]);
    if (Number.isNaN(wakeupMs)) problems.push(`hold: listen() on the held target woke nobody within ${WAKEUP_BUDGET_MS} ms`);
    const listening = targetOf(core.readTick().targets, 'held');

    core.applyWatchSet([entry(true)]);
    const deadline = Date.now() + HOLD_RELEASE_BUDGET_MS;
    while (outcomes().some((o) => o === 'waiting') && Date.now() < deadline) await sleep(20);
    await sleep(50);
    const after = targetOf(core.readTick().targets, 'held');
    if (outcomes().some((o) => o !== 'connected')) problems.push(`hold: once ready the clients were ${outcomes().join(', ')}, not all connected within ${HOLD_RELEASE_BUDGET_MS} ms`);
    if (listening.listeners !== 1) problems.push(`hold: ${listening.listeners} listeners seen after listen(), expected 1`);
    if (after.releasedConnections !== 3 || after.timedOutConnections !== 0) problems.push(`hold: ${after.releasedConnections} released and ${after.timedOutConnections} timed out of 3 held`);
    return { held: before.heldConnections ?? 0, released: after.releasedConnections ?? 0, listeners: listening.listeners ?? 0, wakeupMs: Math.round(wakeupMs * 100) / 100 };
  } finally {
    for (const c of clients) c.socket.destroy();
    server.close();
  }
}
