import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { CollectorAgent, type KernelSource } from '../../src/collector/agent.js';
import type { CollectorTick, WatchEntry } from '../../src/collector/types.js';
import { resolveWatchTargets } from '../../src/collector/watch-resolution.js';

const silent = pino({ level: 'silent' });

/** Recorded kernel: remembers watch sets, replays canned ticks, fires wake-ups on demand. */
class RecordedKernel implements KernelSource {
  applied: WatchEntry[][] = [];
  reads: boolean[] = [];
  private wakeup: ((events: { targetId: string; delayNs: bigint }[]) => void) | undefined;
  applyWatchSet(entries: readonly WatchEntry[]) {
    this.applied.push([...entries]);
    return { rejected: [] };
  }
  readTick(wakeup = false): CollectorTick {
    this.reads.push(wakeup);
    return { endUnixMs: Date.now(), intervalMs: 10, wakeup, targets: [] };
  }
  onWakeup(listener: (events: { targetId: string; delayNs: bigint }[]) => void) {
    this.wakeup = listener;
    return () => (this.wakeup = undefined);
  }
  fireWakeup(): void {
    this.wakeup?.([{ targetId: 't1', delayNs: 1000n }]);
  }
}

test('resolveWatchTargets: netns paths become inodes, unresolvable ones are pending, pod selectors need Kubernetes', () => {
  const inodes: Record<string, number> = { '/run/netns/a': 4026532000 };
  const node = {
    netnsInode(path: string) {
      const ino = inodes[path];
      if (ino === undefined) throw new Error('ENOENT');
      return ino;
    },
  };
  const { entries, pending } = resolveWatchTargets(
    [
      {
        targetId: 't1',
        servers: [{ port: 80 }, { port: 81, netnsPath: '/run/netns/a' }, { port: 82, netnsPath: '/run/netns/missing' }, { port: 83, podNamespace: 'web', podSelector: { app: 'x' } }],
        demand: [{ ip: '127.0.0.1', port: 9 }],
      },
    ],
    node,
  );
  assert.deepEqual(entries, [{ targetId: 't1', servers: [{ port: 80 }, { port: 81, netnsInode: 4026532000 }], demand: [{ ip: '127.0.0.1', port: 9 }] }]);
  assert.equal(pending.length, 2);
  assert.match(pending[0]!, /missing: ENOENT/);
  assert.match(pending[1]!, /without Kubernetes/);
});

test('resolveWatchTargets: pod selectors map to every matching pod netns', () => {
  const { entries, pending } = resolveWatchTargets([{ targetId: 't', servers: [{ port: 8080, podNamespace: 'web', podSelector: { app: 'x' } }], demand: [] }], {
    netnsInode: () => 1,
    podNetns: (ns, sel) => (ns === 'web' && sel['app'] === 'x' ? [11, 12] : []),
  });
  assert.deepEqual(pending, []);
  assert.deepEqual(entries[0]!.servers, [
    { port: 8080, netnsInode: 11 },
    { port: 8080, netnsInode: 12 },
  ]);
});

test('CollectorAgent ticks into the uplink, reports at once on a wake-up, and applies watch sets', async () => {
  const kernel = new RecordedKernel();
  const sent: CollectorTick[] = [];
  const agent = new CollectorAgent({ kernel, uplink: { send: (t) => sent.push(t) }, node: { netnsInode: () => 7 }, tickMs: 50, logger: silent });
  agent.setWatchTargets([{ targetId: 't1', servers: [{ port: 80, netnsPath: '/x' }], demand: [] }]);
  assert.deepEqual(kernel.applied.at(-1), [{ targetId: 't1', servers: [{ port: 80, netnsInode: 7 }], demand: [] }]);
  agent.start();
  try {
    await new Promise((r) => setTimeout(r, 180));
    const regular = sent.length;
    assert.ok(regular >= 2 && regular <= 4, `expected 2-4 ticks in 180 ms at 50 ms, got ${regular}`);
    kernel.fireWakeup();
    assert.equal(sent.length, regular + 1, 'a wake-up sends a report synchronously');
    assert.equal(sent.at(-1)!.wakeup, true);
  } finally {
    agent.stop();
  }
  const after = sent.length;
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(sent.length, after, 'no ticks after stop()');
});

test('inFlightJumped: a doubling or halving by at least 4 requests, not noise', async () => {
  const { inFlightJumped } = await import('../../src/collector/load-jump.js');
  const rows: [number, number, boolean][] = [
    [0, 3, false],
    [0, 4, true],
    [2, 5, false],
    [8, 16, true],
    [8, 15, false],
    [80, 40, true],
    [80, 41, false],
    [5, 0, true],
    [3, 0, false],
  ];
  for (const [reported, now, jumped] of rows) assert.equal(inFlightJumped(reported, now), jumped, `${reported} -> ${now}`);
});

test('agent reports before the tick ends when a target’s in-flight gauge jumps, and not while it is steady', async () => {
  class GaugedKernel extends RecordedKernel {
    inFlight = 8;
    override readTick(wakeup = false): CollectorTick {
      super.readTick(wakeup);
      return {
        endUnixMs: Date.now(),
        intervalMs: 10,
        wakeup,
        targets: [{ targetId: 't1', requests: 0, latencySumUs: 0, inFlight: this.inFlight, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: { indices: [], counts: [] } }],
      };
    }
    loadNow(): Map<string, { inFlight: number; completed: number; latencySumUs: number }> {
      return new Map([['t1', { inFlight: this.inFlight, completed: 0, latencySumUs: 0 }]]);
    }
  }
  const kernel = new GaugedKernel();
  const sent: CollectorTick[] = [];
  const agent = new CollectorAgent({ kernel, uplink: { send: (t) => sent.push(t) }, node: { netnsInode: () => 1 }, tickMs: 60_000, logger: silent });
  agent.start();
  try {
    // The first load check reports (nothing was reported yet: 0 -> 8 is a jump), the
    // following second reports at the check pace, then it is steady.
    await new Promise((r) => setTimeout(r, 2000));
    const afterFirstJump = sent.length;
    assert.ok(afterFirstJump >= 2 && afterFirstJump <= 7, `${afterFirstJump} reports for the first gauge and the second after it`);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(sent.length, afterFirstJump, 'none while steady');
    kernel.inFlight = 80;
    const deadline = Date.now() + 2000;
    while (sent.length <= afterFirstJump && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sent.length, afterFirstJump + 1, 'the jump 8 -> 80 is reported long before the 60 s tick');
    assert.equal(sent[afterFirstJump]!.targets[0]!.inFlight, 80);
    await new Promise((r) => setTimeout(r, 1500));
    const followed = sent.length - afterFirstJump;
    assert.ok(followed >= 3 && followed <= 7, `${followed} reports in the second after the jump, at the check pace`);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(sent.length - afterFirstJump, followed, 'then steady again');
  } finally {
    agent.stop();
  }
});

test('latencyJumped: the mean of the newest completions doubled or halved by at least 1 ms over at least 32 requests', async () => {
  const { latencyJumped } = await import('../../src/collector/load-jump.js');
  const rows: [number, number, number, boolean][] = [
    // reference mean µs, completed since the report, their latency sum µs
    [5000, 100, 100 * 50_000, true],
    [5000, 31, 31 * 50_000, false],
    [5000, 100, 100 * 9000, false],
    [5000, 100, 100 * 10_000, true],
    [50_000, 100, 100 * 5000, true],
    [300, 100, 100 * 900, false],
    [0, 100, 100 * 50_000, false],
  ];
  for (const [ref, n, sum, jumped] of rows) assert.equal(latencyJumped(ref, n, sum), jumped, `${ref} -> ${sum / n} over ${n}`);
});

test('agent reports before the tick ends when latency steps while in flight stays (closed-loop clients), and not while it is steady', async () => {
  // 8 connections always busy; each check 40 requests complete at meanUs
  class ClosedLoopKernel extends RecordedKernel {
    meanUs = 5000;
    completed = 0;
    sumUs = 0;
    reportedCompleted = 0;
    reportedSumUs = 0;
    private advance(): void {
      this.completed += 40;
      this.sumUs += 40 * this.meanUs;
    }
    override readTick(wakeup = false): CollectorTick {
      super.readTick(wakeup);
      const requests = this.completed - this.reportedCompleted;
      const latencySumUs = this.sumUs - this.reportedSumUs;
      this.reportedCompleted = this.completed;
      this.reportedSumUs = this.sumUs;
      return {
        endUnixMs: Date.now(),
        intervalMs: 10,
        wakeup,
        targets: [{ targetId: 't1', requests, latencySumUs, inFlight: 8, acceptedConnections: 0, demandAttempts: 0, demandRefused: 0, buckets: { indices: [], counts: [] } }],
      };
    }
    loadNow(): Map<string, { inFlight: number; completed: number; latencySumUs: number }> {
      this.advance();
      return new Map([['t1', { inFlight: 8, completed: this.completed, latencySumUs: this.sumUs }]]);
    }
  }
  const kernel = new ClosedLoopKernel();
  const sent: CollectorTick[] = [];
  const agent = new CollectorAgent({ kernel, uplink: { send: (t) => sent.push(t) }, node: { netnsInode: () => 1 }, tickMs: 60_000, logger: silent });
  agent.start();
  try {
    // the first check reports (in flight 0 -> 8), a second of follow-ups, then steady
    await new Promise((r) => setTimeout(r, 2500));
    const settled = sent.length;
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(sent.length, settled, 'no reports while latency is steady');
    kernel.meanUs = 50_000;
    const deadline = Date.now() + 2000;
    while (sent.length <= settled && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sent.length, settled + 1, 'the step 5 ms -> 50 ms is reported long before the 60 s tick');
    const t = sent[settled]!.targets[0]!;
    // (it also carries the fast requests completed since the previous report)
    assert.ok(t.latencySumUs >= 40 * 50_000, `the early report carries the slow requests (sum ${t.latencySumUs} µs)`);
    await new Promise((r) => setTimeout(r, 1500));
    const followed = sent.length - settled;
    assert.ok(followed >= 3 && followed <= 7, `${followed} reports in the second after the step, at the check pace`);
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(sent.length - settled, followed, 'then steady again at the new latency');
  } finally {
    agent.stop();
  }
});
