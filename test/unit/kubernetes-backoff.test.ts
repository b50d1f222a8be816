import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/backoff.js';
import { InterruptibleSleep } from '../../src/kubernetes/backoff.js';

test('backoff doubles up to its cap, jitters within bounds, and resets', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1_000, jitter: 0 });
  assert.deepEqual([b.nextDelayMs(), b.nextDelayMs(), b.nextDelayMs(), b.nextDelayMs(), b.nextDelayMs(), b.nextDelayMs()], [100, 200, 400, 800, 1_000, 1_000]);
  b.reset();
  assert.equal(b.nextDelayMs(), 100);
  const low = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.2 }, () => 0);
  const high = new Backoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.2 }, () => 1);
  assert.equal(low.nextDelayMs(), 800);
  assert.equal(high.nextDelayMs(), 1_200);
});

test('an interrupted sleep ends at once (closing a watcher never waits out a backoff)', async () => {
  const sleeper = new InterruptibleSleep();
  const started = Date.now();
  const done = sleeper.sleep(10_000);
  sleeper.interrupt();
  await done;
  assert.ok(Date.now() - started < 1_000);
});
