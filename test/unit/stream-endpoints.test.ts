import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseScalerAddresses, resolveScalerEndpoints } from '../../src/stream/scaler-endpoints.js';

test('scaler address lists parse; malformed entries are named', () => {
  assert.deepEqual(parseScalerAddresses('10.0.0.1:9090, scaler.keda.svc:9090,[::1]:9091'), [
    { host: '10.0.0.1', port: 9090 },
    { host: 'scaler.keda.svc', port: 9090 },
    { host: '::1', port: 9091 },
  ]);
  for (const bad of ['scaler', 'scaler:', 'scaler:0', 'scaler:65536', '::1:9090', '[::1]9090', '[nothost]:1', '', ' , ']) {
    assert.throws(() => parseScalerAddresses(bad), /scaler address|no scaler address/, bad);
  }
});

test('names expand to one endpoint per address; IP literals pass through; failures are kept apart', async () => {
  const resolver = async (name: string): Promise<string[]> => {
    if (name === 'scaler-headless') return ['127.0.0.2', '127.0.0.1', '::1'];
    if (name === 'empty') return [];
    throw new Error(`getaddrinfo ENOTFOUND ${name}`);
  };
  const { endpoints, failures } = await resolveScalerEndpoints(
    parseScalerAddresses('scaler-headless:9090,127.0.0.1:9090,gone:1,empty:2'),
    resolver,
  );
  assert.deepEqual(
    endpoints.map((e) => [e.key, e.target, e.hostname]),
    [
      // Also listed as a literal: one stream, not two (the literal wins).
      ['127.0.0.1:9090', 'ipv4:127.0.0.1:9090', undefined],
      ['127.0.0.2:9090', 'ipv4:127.0.0.2:9090', 'scaler-headless'],
      ['[::1]:9090', 'ipv6:[::1]:9090', 'scaler-headless'],
    ],
  );
  assert.deepEqual(
    failures.map((f) => f.hostname).sort(),
    ['empty', 'gone'],
  );
});
