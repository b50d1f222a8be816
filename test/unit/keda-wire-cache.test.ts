import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { TriggerCache } from '../../src/keda/trigger-cache.js';
import { prepareTrigger } from '../../src/keda/trigger.js';
import { MAX_CACHED_REQUEST_BYTES, memoizedDecoder, memoizedEncoder, withWireCaches } from '../../src/keda/wire-cache.js';
import { loadExternalScaler } from '../../src/proto/load.js';
import type { ScaledObjectRef__Output } from '../../src/proto/generated/externalscaler/ScaledObjectRef.js';
import { parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { TargetRegistry } from '../../src/scaler/registry.js';
import { StandaloneResolver } from '../../src/scaler/resolver.js';
import { WindowStore } from '../../src/scaler/window-store.js';

const service = loadExternalScaler().externalscaler.ExternalScaler.service;
const ref = { name: 'web', namespace: 'shop', scalerMetadata: { port: '8080', targetValue: '50', metric: 'rps' } };

test('identical request bytes decode to one frozen object equal to a plain decode; other bytes to another', () => {
  const plain = service.IsActive.requestDeserialize;
  const decode = memoizedDecoder(plain, 8);
  const bytes = service.IsActive.requestSerialize(ref);
  const first = decode(bytes);
  assert.deepEqual(first, plain(bytes));
  assert.equal(decode(Buffer.from(bytes)), first, 'same bytes in another buffer: same object');
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.scalerMetadata));
  assert.throws(() => {
    (first.scalerMetadata as Record<string, string>).port = '1';
  }, TypeError);
  const other = decode(service.IsActive.requestSerialize({ ...ref, name: 'api' }));
  assert.notEqual(other, first);
  assert.equal(other.name, 'api');
});

test('the request memo is bounded in entries and never keeps big requests', () => {
  let decodes = 0;
  const decode = memoizedDecoder((b: Buffer) => {
    decodes++;
    return { n: b.length };
  }, 2);
  const a = Buffer.from('a');
  decode(a);
  decode(Buffer.from('bb'));
  decode(Buffer.from('ccc')); // a is out
  decodes = 0;
  decode(a);
  assert.equal(decodes, 1);
  const big = Buffer.alloc(MAX_CACHED_REQUEST_BYTES + 1);
  assert.notEqual(decode(big), decode(big));
  assert.equal(decodes, 3);
});

test('frozen answers are encoded once, to the same bytes as a plain encode; others every time', () => {
  const plain = service.IsActive.responseSerialize;
  let encodes = 0;
  const encode = memoizedEncoder((v: { result: boolean }) => {
    encodes++;
    return plain(v);
  });
  const active = Object.freeze({ result: true });
  assert.deepEqual(encode(active), plain({ result: true }));
  encode(active);
  assert.equal(encodes, 1);
  encode({ result: true });
  encode({ result: true });
  assert.equal(encodes, 3);
  const wrapped = withWireCaches(service, 16);
  assert.deepEqual(Object.keys(wrapped).sort(), Object.keys(service).sort());
  assert.deepEqual(wrapped.GetMetrics.responseSerialize({ metricValues: [{ metricName: 'm', metricValue: 3, metricValueFloat: 3.5 }] }), service.GetMetrics.responseSerialize({ metricValues: [{ metricName: 'm', metricValue: 3, metricValueFloat: 3.5 }] }));
});

test('a reused request object finds its trigger, but never an entry the cache evicted', async () => {
  const registry = new TargetRegistry(new WindowStore({ maxTargets: 10, idleExpiryMs: 1000 }), new StandaloneResolver());
  const silent = pino({ level: 'silent' });
  const decode = memoizedDecoder(service.IsActive.requestDeserialize, 8);
  const request: ScaledObjectRef__Output = decode(service.IsActive.requestSerialize(ref));
  const first = await prepareTrigger(request, registry, 0, silent);
  assert.equal((await prepareTrigger(request, registry, 10, silent)).trigger, first.trigger);
  registry.sweep(10_000); // the target expires and takes its cache entries with it
  const again = await prepareTrigger(request, registry, 10_001, silent);
  assert.notEqual(again.trigger, first.trigger, 'parsed again, not served from the forgotten entry');

  const cache = new TriggerCache(1);
  const entry = { trigger: parseTriggerMetadata({ port: '81', targetValue: '1' }, 'ns'), metricName: 'm', owner: 'ns/so', holdKey: 'ns/so/m' };
  const frozen = Object.freeze({});
  cache.set('a', entry);
  cache.bindRequest(frozen, entry);
  assert.equal(cache.getByRequest(frozen), entry);
  cache.set('b', { trigger: entry.trigger, metricName: 'n', owner: 'ns/so', holdKey: 'ns/so/n' }); // evicts a
  assert.equal(cache.getByRequest(frozen), undefined);
  const unfrozen = {};
  cache.bindRequest(unfrozen, entry);
  assert.equal(cache.getByRequest(unfrozen), undefined, 'only frozen (reused) request objects are bound');
});
