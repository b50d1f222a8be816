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
