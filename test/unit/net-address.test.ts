import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, ipBytes, ipFamily, isLoopbackIp, splitHostPort } from '../../src/net/address.js';

/** The one address module: table tests for every form the project accepts or refuses. */

test('splitHostPort', () => {
  const rows: [string, ReturnType<typeof splitHostPort>][] = [
    ['127.0.0.1:9090', { host: '127.0.0.1', port: 9090 }],
    ['[::1]:9090', { host: '::1', port: 9090 }],
    ['[FD00::1]:80', { host: 'FD00::1', port: 80 }],
    ['keda-ebpf-scaler.ns.svc:9090', { host: 'keda-ebpf-scaler.ns.svc', port: 9090 }],
    ['::1:9090', undefined],
    ['[::1]9090', undefined],
    ['[web]:80', undefined],
    ['host', undefined],
    [':80', undefined],
    ['host:0', undefined],
    ['host:65536', undefined],
    ['host:80x', undefined],
    ['ho st:80', undefined],
  ];
  for (const [text, expected] of rows) assert.deepEqual(splitHostPort(text), expected, text);
  assert.deepEqual(splitHostPort('0.0.0.0:0', { allowPortZero: true }), { host: '0.0.0.0', port: 0 });
});

test('ipFamily, formatHostPort, ipBytes, isLoopbackIp', () => {
  assert.equal(ipFamily('10.0.0.1'), 4);
  assert.equal(ipFamily('fe80::1%eth0'), 6);
  assert.equal(ipFamily('010.0.0.1.5'), 0);
  assert.equal(ipFamily('web'), 0);
  assert.equal(formatHostPort('FD00::1', 80), '[fd00::1]:80');
  assert.equal(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
  assert.deepEqual(ipBytes('::ffff:10.1.2.3'), { family: 4, bytes: Uint8Array.from([10, 1, 2, 3]) });
  assert.deepEqual([...ipBytes('fd00::1:2').bytes], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
  assert.throws(() => ipBytes('localhost'), /not an IPv4 or IPv6 address/);
  for (const host of ['127.0.0.1', '127.9.8.7', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) assert.equal(isLoopbackIp(host), true, host);
  for (const host of ['10.0.0.1', '::2', 'localhost', '']) assert.equal(isLoopbackIp(host), false, host);
});
