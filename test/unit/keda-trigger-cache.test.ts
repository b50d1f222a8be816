import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { TriggerCache, type CachedTrigger } from '../../src/keda/trigger-cache.js';
import { prepareTrigger } from '../../src/keda/trigger.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { TargetRegistry } from '../../src/scaler/registry.js';
import { StandaloneResolver } from '../../src/scaler/resolver.js';
import { WindowStore } from '../../src/scaler/window-store.js';

const silent = pino({ level: 'silent' });

function entryFor(port: string): CachedTrigger {
  return { trigger: parseTriggerMetadata({ port, targetValue: '1' }, 'ns'), metricName: `m-${port}`, owner: 'ns/so', holdKey: `ns/so/m-${port}` };
}

test('trigger cache keys are exact: values that look like separators never collide', () => {
  const a = TriggerCache.keyOf('ns', 'so', { a: 'b\u0000c', d: 'e' });
  const b = TriggerCache.keyOf('ns', 'so', { a: 'b', c: 'd\u0000e' });
  assert.notEqual(a, b);
  assert.notEqual(TriggerCache.keyOf('n', 's', { x: '1' }), TriggerCache.keyOf('n', 's', { x: '2' }));
  assert.notEqual(TriggerCache.keyOf('n1', 's', { x: '1' }), TriggerCache.keyOf('n2', 's', { x: '1' }));
  assert.equal(TriggerCache.keyOf('n', 's', { x: '1', y: '2' }), TriggerCache.keyOf('n', 's', { x: '1', y: '2' }));
});

test('trigger cache is bounded and evicts the least recently used entry first', () => {
  const cache = new TriggerCache(2);
  cache.set('a', entryFor('81'));
  cache.set('b', entryFor('82'));
  assert.ok(cache.get('a')); // a is now the most recently used
  cache.set('c', entryFor('83'));
  assert.equal(cache.size, 2);
  assert.equal(cache.get('b'), undefined);
  assert.ok(cache.get('a'));
  assert.ok(cache.get('c'));
});

test('prepareTrigger answers a repeated ref from the cache and forgets it when its target expires', async () => {
  const store = new WindowStore({ maxTargets: 10, idleExpiryMs: 1000 });
  const registry = new TargetRegistry(store, new StandaloneResolver());
  const ref = { name: 'web', namespace: 'shop', scalerMetadata: { port: '8080', targetValue: '50', metric: 'rps' } };
  const first = await prepareTrigger(ref, registry, 0, silent);
  const second = await prepareTrigger({ ...ref, scalerMetadata: { ...ref.scalerMetadata } }, registry, 10, silent);
  assert.equal(second.trigger, first.trigger, 'the parsed trigger is reused, not parsed again');
  assert.equal(second.log, first.log);
  assert.equal(second.target.id, first.target.id);
  const other = await prepareTrigger({ ...ref, scalerMetadata: { ...ref.scalerMetadata, targetValue: '60' } }, registry, 10, silent);
  assert.notEqual(other.trigger, first.trigger);
  assert.equal(other.trigger.targetValue, 60);
  registry.sweep(10_000);
  assert.equal(registry.get(first.target.id), undefined, 'the target expired');
  const third = await prepareTrigger(ref, registry, 10_001, silent);
  assert.notEqual(third.trigger, first.trigger, 'an expired target takes its cache entries with it');
  assert.equal(third.target.id, first.target.id);
});

test('bad metadata is never cached: every call answers INVALID_ARGUMENT again', async () => {
  const registry = new TargetRegistry(new WindowStore({ maxTargets: 10 }), new StandaloneResolver());
  const ref = { name: 'web', namespace: 'shop', scalerMetadata: { port: '8080', targetValue: 'fast' } };
  for (let i = 0; i < 2; i++) await assert.rejects(prepareTrigger(ref, registry, i, silent), /targetValue/);
});
