import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { WindowStore } from '../../src/scaler/window-store.js';
import { ManualClock, callError, ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';

/**
 * Attack 8 (issue 10): 1000 IsActive calls in one second with distinct metadata filled the
 * target table, new ScaledObjects got RESOURCE_EXHAUSTED for 15 minutes (forever while
 * streams held them) and every refusal wrote a warn line. Real server, real client; the
 * clock is moved by hand.
 */

const isActive = (s: TestScaler, md: Record<string, string>, name: string) => unaryCall<{ result?: boolean }>((cb) => s.client.IsActive(ref(md, name), cb));

function logSink(): { lines: Record<string, unknown>[]; logger: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'warn' }, stream) };
}

describe('fair admission when the target table is full (attack 8)', () => {
  const clock = new ManualClock();
  const sink = logSink();
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler({ clock: clock.now, store: new WindowStore({ maxTargets: 100 }), log: sink.logger });
  });
  after(() => scaler.close());

  it('one ScaledObject flooding 1000 distinct triggers holds at most its cap; a new ScaledObject gets in at once', async () => {
    const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => isActive(scaler, { port: String(20_000 + i), targetValue: '1' }, 'flood')));
    assert.equal(results.filter((r) => r.status === 'rejected').length, 0, 'the flooder replaces its own oldest targets');
    const stats = scaler.server.stats();
    assert.equal(stats.store.targets, 32, 'the per-ScaledObject cap (default 32)');
    assert.ok(stats.store.evictedTotal >= 968);
    const fresh = await isActive(scaler, { port: '8080', targetValue: '1' }, 'newcomer');
    assert.equal(fresh.result, false);
    // 1000 evictions wrote a single rate-limited warn line carrying the count held back later.
    const warnLines = sink.lines.filter((l) => l.level === 40);
    assert.ok(warnLines.length <= 2, `${warnLines.length} warn lines`);
    assert.ok(stats.warningsSuppressed >= 900, `suppressed ${stats.warningsSuppressed}`);
  });

  it('1000 ScaledObjects with one trigger each: newcomers wait at most 2 minutes, not 15', async () => {
    await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => isActive(scaler, { port: String(30_000 + i), targetValue: '1' }, `so-${i}`)));
    const before = scaler.server.stats().store;
    assert.equal(before.targets, 100);
    const refused = await callError((cb) => scaler.client.IsActive(ref({ port: '9090', targetValue: '1' }, 'late'), cb));
    assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(refused.details, /raise --max-targets/);
    assert.ok((scaler.server.stats().store.refusedByScaledObject['default/late'] ?? 0) >= 1, 'refusals counted per ScaledObject');
    clock.advance(120_000);
    const admitted = await isActive(scaler, { port: '9090', targetValue: '1' }, 'late');
    assert.equal(admitted.result, false, 'a target idle for 2 minutes gave its place');
  });

  it('targets held by open streams are never evicted', async () => {
    const store = new WindowStore({ maxTargets: 2 });
    const s = await startTestScaler({ clock: clock.now, store });
    try {
      const streams = [0, 1].map((i) => s.client.StreamIsActive(ref({ port: String(40_000 + i), targetValue: '1' }, `held-${i}`)));
      for (const st of streams) st.on('error', () => undefined);
      await Promise.all(streams.map((st) => new Promise((resolve) => st.once('data', resolve))));
      clock.advance(3_600_000);
      const refused = await callError((cb) => s.client.IsActive(ref({ port: '40100', targetValue: '1' }, 'other'), cb));
      assert.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(store.stats().targets, 2, 'both held targets remain');
      assert.equal(store.stats().evictedTotal, 0);
      for (const st of streams) st.cancel();
    } finally {
      await s.close();
    }
  });
});
