import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { ExternalScalerHandlers } from '../../src/proto/generated/externalscaler/ExternalScaler.js';
import type { ScaledObjectRef__Output } from '../../src/proto/generated/externalscaler/ScaledObjectRef.js';
import { loadExternalScaler } from '../../src/proto/load.js';

/**
 * `keda-ebpf-scaler query` spawned as a user runs it, against a canned ExternalScaler: the
 * answers are fixed so the test checks the CLI (requests as KEDA sends them, JSON output,
 * status codes on stderr, stream stop conditions), not the scaler's evaluation.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const requests: { rpc: string; ref: ScaledObjectRef__Output | null; metricName?: string }[] = [];
let cancelledStreams = 0;
let server: grpc.Server;
let addr: string;

const METRIC = 'latency-p95-ms';

const handlers: ExternalScalerHandlers = {
  IsActive(call, cb) {
    requests.push({ rpc: 'IsActive', ref: call.request });
    if (call.request.scalerMetadata.targetValue === undefined) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: 'metadata "targetValue": required, a number > 0' });
      return;
    }
    cb(null, { result: call.request.scalerMetadata.active === 'true' });
  },
  GetMetricSpec(call, cb) {
    requests.push({ rpc: 'GetMetricSpec', ref: call.request });
    cb(null, { metricSpecs: [{ metricName: METRIC, targetSize: 200, targetSizeFloat: 200 }] });
  },
  GetMetrics(call, cb) {
    requests.push({ rpc: 'GetMetrics', ref: call.request.scaledObjectRef, metricName: call.request.metricName });
    if (call.request.metricName.toLowerCase() !== METRIC) {
      cb({ code: grpc.status.NOT_FOUND, details: `no metric "${call.request.metricName}"` });
      return;
    }
    cb(null, { metricValues: [{ metricName: METRIC, metricValue: 43, metricValueFloat: 42.5 }] });
  },
  StreamIsActive(call) {
    requests.push({ rpc: 'StreamIsActive', ref: call.request });
    call.on('cancelled', () => cancelledStreams++);
    if (call.request.scalerMetadata.silent === 'true') return; // never answers
    const endAfter = Number(call.request.scalerMetadata.endAfter ?? 0);
    let sent = 0;
    call.write({ result: false });
    const timer = setInterval(() => {
      sent++;
      call.write({ result: sent % 2 === 1 });
      if (endAfter > 0 && sent >= endAfter) {
        clearInterval(timer);
        call.end();
      }
    }, 30);
    call.on('cancelled', () => clearInterval(timer));
  },
  StreamMetricSpec(call) {
    requests.push({ rpc: 'StreamMetricSpec', ref: call.request });
    call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'StreamMetricSpec is not served by this canned scaler' });
  },
};

before(async () => {
  server = new grpc.Server();
  server.addService(loadExternalScaler().externalscaler.ExternalScaler.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  addr = `127.0.0.1:${port}`;
});

after(() => {
  server.forceShutdown();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function query(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'query', ...args], { cwd: root, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (run: Run): unknown[] => run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);

test('isactive sends name, namespace and the whole metadata map, and prints JSON (canned scaler)', async () => {
  requests.length = 0;
  const run = await query(['isactive', '--addr', addr, '--name', 'web', '--namespace', 'shop', '--meta', 'port=8080,8081', '--meta', 'targetValue=200', '--meta', 'active=true']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(lines(run), [{ result: true }]);
  assert.deepEqual(requests, [
    {
      rpc: 'IsActive',
      ref: { name: 'web', namespace: 'shop', scalerMetadata: { scalerAddress: addr, port: '8080,8081', targetValue: '200', active: 'true' } },
    },
  ]);
});

test('spec prints the metric spec; namespace defaults to "default" (canned scaler)', async () => {
  requests.length = 0;
  const run = await query(['spec', '--addr', addr, '--name', 'web', '--meta', 'targetValue=200']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(lines(run), [{ metricSpecs: [{ metricName: METRIC, targetSize: 200, targetSizeFloat: 200 }] }]);
  assert.equal(requests[0]!.ref!.namespace, 'default');
});

test('metrics without --metric-name asks GetMetricSpec first, then GetMetrics for its name, as KEDA does (canned scaler)', async () => {
  requests.length = 0;
  const run = await query(['metrics', '--addr', addr, '--name', 'web', '--meta', 'targetValue=200']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(lines(run), [{ metricValues: [{ metricName: METRIC, metricValue: 43, metricValueFloat: 42.5 }] }]);
  assert.deepEqual(
    requests.map((r) => [r.rpc, r.metricName]),
    [
      ['GetMetricSpec', undefined],
      ['GetMetrics', METRIC],
    ],
  );
  assert.deepEqual(requests[1]!.ref!.scalerMetadata, { scalerAddress: addr, targetValue: '200' });
});

test('errors print the gRPC status name and message on stderr and exit 1 (canned scaler)', async () => {
  const notFound = await query(['metrics', '--addr', addr, '--name', 'web', '--metric-name', 'rps']);
  assert.equal(notFound.code, 1);
  assert.equal(notFound.stdout, '');
  assert.equal(notFound.stderr.trim(), 'NOT_FOUND: no metric "rps"');

  const invalid = await query(['isactive', '--addr', addr, '--name', 'web']);
  assert.equal(invalid.code, 1);
  assert.equal(invalid.stderr.trim(), 'INVALID_ARGUMENT: metadata "targetValue": required, a number > 0');

  const unimplemented = await query(['streamspec', '--addr', addr, '--name', 'web']);
  assert.equal(unimplemented.code, 1);
  assert.match(unimplemented.stderr, /^UNIMPLEMENTED: /);

  const down = await query(['isactive', '--addr', '127.0.0.1:1', '--name', 'web', '--meta', 'targetValue=1', '--timeout', '2s']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /^UNAVAILABLE: /);

  const usage = await query(['bogus', '--addr', addr, '--name', 'web']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /expected one of isactive, spec, metrics, stream, streamspec/);

  const badMeta = await query(['isactive', '--addr', addr, '--name', 'web', '--meta', 'novalue']);
  assert.equal(badMeta.code, 2);
  assert.match(badMeta.stderr, /--meta: "novalue" is not key=value/);
});

test('stream prints one JSON line per message and stops after --count, cancelling the call (canned scaler)', async () => {
  const before = cancelledStreams;
  const run = await query(['stream', '--addr', addr, '--name', 'web', '--count', '3']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(lines(run), [{ result: false }, { result: true }, { result: false }]);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(cancelledStreams, before + 1);
});

test('stream ends with the server (status OK) and stops on --duration (canned scaler)', async () => {
  const ended = await query(['stream', '--addr', addr, '--name', 'web', '--meta', 'endAfter=2']);
  assert.equal(ended.code, 0, ended.stderr);
  assert.equal(lines(ended).length, 3);

  const t0 = Date.now();
  const timed = await query(['stream', '--addr', addr, '--name', 'web', '--duration', '300ms']);
  assert.equal(timed.code, 0, timed.stderr);
  assert.ok(lines(timed).length >= 3, timed.stdout);
  assert.ok(Date.now() - t0 < 10_000);
});

test('a stream with no first message within --timeout fails with DEADLINE_EXCEEDED (canned scaler)', async () => {
  const run = await query(['stream', '--addr', addr, '--name', 'web', '--meta', 'silent=true', '--timeout', '300ms']);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^DEADLINE_EXCEEDED: no message within 300 ms/);
});

test('stream stops cleanly on Ctrl-C (SIGINT) with exit 0 (canned scaler)', async () => {
  const before = cancelledStreams;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'query', 'stream', '--addr', addr, '--name', 'web'], { cwd: root });
  let stdout = '';
  const firstLine = new Promise<void>((resolve) =>
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve();
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    await firstLine;
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.deepEqual(JSON.parse(stdout.split('\n')[0]!), { result: false });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(cancelledStreams, before + 1);
  } finally {
    clearTimeout(guard);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('TLS: --tls-ca verifies the scaler, --tls-cert/--tls-key pass mTLS (canned scaler)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'query-tls-'));
  const tlsServer = new grpc.Server();
  try {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test-ca');
    for (const [name, ext] of [
      ['server', 'subjectAltName=IP:127.0.0.1,DNS:scaler.test'],
      ['client', 'extendedKeyUsage=clientAuth'],
    ] as const) {
      openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
    }
    const file = (name: string) => join(dir, name);
    tlsServer.addService(loadExternalScaler().externalscaler.ExternalScaler.service, handlers);
    const credentials = grpc.ServerCredentials.createSsl(readFileSync(file('ca.pem')), [{ private_key: readFileSync(file('server.key')), cert_chain: readFileSync(file('server.pem')) }], true);
    const port = await new Promise<number>((resolve, reject) => tlsServer.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))));
    const base = ['isactive', '--addr', `127.0.0.1:${port}`, '--name', 'web', '--meta', 'targetValue=1', '--meta', 'active=true', '--timeout', '3s'];

    const mtls = await query([...base, '--tls-ca', file('ca.pem'), '--tls-cert', file('client.pem'), '--tls-key', file('client.key')]);
    assert.equal(mtls.code, 0, mtls.stderr);
    assert.deepEqual(lines(mtls), [{ result: true }]);

    const byName = await query([...base, '--tls-ca', file('ca.pem'), '--tls-cert', file('client.pem'), '--tls-key', file('client.key'), '--tls-server-name', 'scaler.test']);
    assert.equal(byName.code, 0, byName.stderr);

    const noClientCert = await query([...base, '--tls-ca', file('ca.pem')]);
    assert.equal(noClientCert.code, 1);
    assert.match(noClientCert.stderr, /^UNAVAILABLE: /);

    const plaintext = await query(base);
    assert.equal(plaintext.code, 1);
    assert.match(plaintext.stderr, /^UNAVAILABLE: /);

    const halfPair = await query([...base, '--tls-cert', file('client.pem')]);
    assert.equal(halfPair.code, 2);
    assert.match(halfPair.stderr, /--tls-cert and --tls-key go together/);
  } finally {
    tlsServer.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});
