import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectCollector, deltaFromLatencies, report } from '../helpers/scaler-collector.js';
import { ref, startTestScaler, unaryCall } from '../helpers/scaler-server.js';

/**
 * keda/first-report-gate.ts over a real server and a synthetic collector: after start-up a
 * target's first answer waits for the collectors' reports on it, within one collector
 * interval after the connect grace.
 */

const GRACE_MS = 800;
const INTERVAL_MS = 300;
const metadata = { port: '8080', metric: 'rps', targetValue: '1' };

function firstStreamMessage(stream: { once(event: 'data', l: (m: { result: boolean }) => void): unknown; on(event: 'error', l: () => void): unknown }): Promise<{ result: boolean; at: number }> {
  stream.on('error', () => undefined);
  return new Promise((resolve) => stream.once('data', (m) => resolve({ result: m.result, at: Date.now() })));
}

describe('first answer after start-up', () => {
  it('waits for the collector that reconnects after the restart: first StreamIsActive message and IsActive are true', async () => {
    const scaler = await startTestScaler({ firstReport: { connectGraceMs: GRACE_MS, intervalMs: INTERVAL_MS } });
    try {
      const stream = scaler.client.StreamIsActive(ref(metadata));
      const first = firstStreamMessage(stream);
      const isActive = unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb));
      // The collector comes back a moment later (its reconnect backoff), learns the target,
      // and its first delta covers only the instant since it started watching: no requests.
      await new Promise((r) => setTimeout(r, 200));
      const collector = await connectCollector(scaler.address);
      const watched = await collector.waitForWatchSet((ws) => ws.targets.length > 0);
      const id = watched.targets[0]!.target_id;
      collector.send(report(1, [deltaFromLatencies(id, [])]));
      await new Promise((r) => setTimeout(r, INTERVAL_MS / 2));
      collector.send(report(2, [deltaFromLatencies(id, [1000, 2000])]));
      assert.equal((await first).result, true, 'first StreamIsActive message');
      assert.equal((await isActive).result, true, 'IsActive');
      stream.cancel();
      collector.close();
    } finally {
      await scaler.close();
    }
  });

  it('is bounded: a collector that never reports delays the first answer by at most grace + interval', async () => {
    const scaler = await startTestScaler({ firstReport: { connectGraceMs: GRACE_MS, intervalMs: INTERVAL_MS } });
    try {
      const collector = await connectCollector(scaler.address);
      const started = Date.now();
      const res = await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb));
      const waited = Date.now() - started;
      assert.equal(res.result, false);
      assert.ok(waited >= INTERVAL_MS - 50 && waited <= GRACE_MS + INTERVAL_MS + 300, `waited ${waited} ms`);
      collector.close();
    } finally {
      await scaler.close();
    }
  });

  it('without collectors once the grace is over, answers at once', async () => {
    const scaler = await startTestScaler({ firstReport: { connectGraceMs: 200, intervalMs: INTERVAL_MS } });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const res = await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb));
      assert.equal(res.result, false);
      assert.ok(Date.now() - started < 150, `answered in ${Date.now() - started} ms`);
    } finally {
      await scaler.close();
    }
  });
});
