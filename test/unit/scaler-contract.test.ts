import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loaderOptions } from '../../src/proto/load.js';
import { callError, ManualClock, ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';
import { PYTHON, PYTHON_CLIENT } from '../helpers/scaler-python.js';
import { connectCollector, deltaFromLatencies, report } from '../helpers/scaler-collector.js';

/**
 * KEDA's contract over a real port with grpc-js clients built from the .proto files:
 * every RPC, reflection, health, and a second gRPC implementation (python3-grpcio).
 */

const metadata = { port: '8080', metric: 'rps', targetValue: '10' };

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
}

function reflectionRequest(address: string, request: object): Promise<ReflectionResponse> {
  const reflectionProto = new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url).pathname;
  const def = protoLoader.loadSync(reflectionProto, loaderOptions);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  const stream = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionResponse> }).ServerReflectionInfo();
  return new Promise((resolve, reject) => {
    stream.on('data', (response: ReflectionResponse) => {
      resolve(response);
      stream.end();
      client.close();
    });
    stream.on('error', reject);
    stream.write(request);
  });
}

async function reflectionList(address: string): Promise<string[]> {
  const response = await reflectionRequest(address, { list_services: '*' });
  return (response.list_services_response?.service ?? []).map((s) => s.name).sort();
}

function healthCheck(address: string, service: string): Promise<string> {
  const def = protoLoader.loadSync(healthProtoPath, loaderOptions);
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: typeof grpc.Client } } } };
  const client = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as grpc.Client & {
    Check(req: { service: string }, cb: grpc.requestCallback<{ status: string }>): void;
  };
  return unaryCall<{ status: string }>((cb) => client.Check({ service }, cb)).then((r) => {
    client.close();
    return r.status;
  });
}

describe('ExternalScaler contract', () => {
  let scaler: TestScaler;
  // Frozen clock: rates below divide by exactly one second of history.
  const clock = new ManualClock();
  before(async () => {
    scaler = await startTestScaler({ clock: clock.now });
  });
  after(async () => {
    await scaler.close();
  });

  it('GetMetricSpec returns exactly one spec with both target fields', async () => {
    const res = await unaryCall<{ metricSpecs: { metricName: string; targetSize: number; targetSizeFloat: number }[] }>((cb) =>
      scaler.client.GetMetricSpec(ref({ ...metadata, targetValue: '2.6' }), cb),
    );
    assert.equal(res.metricSpecs.length, 1);
    const spec = res.metricSpecs[0]!;
    assert.match(spec.metricName, /^ebpf-rps-[0-9a-f]{12}$/);
    assert.equal(spec.targetSizeFloat, 2.6);
    assert.equal(spec.targetSize, 3);
    const tiny = await unaryCall<{ metricSpecs: { targetSize: number; targetSizeFloat: number }[] }>((cb) =>
      scaler.client.GetMetricSpec(ref({ ...metadata, targetValue: '0.001' }), cb),
    );
    assert.equal(tiny.metricSpecs[0]!.targetSizeFloat, 0.001);
    assert.equal(tiny.metricSpecs[0]!.targetSize, 1, 'int target never 0 (an invalid HPA target)');
  });

  it('GetMetrics returns exactly one value for the requested name, matched case-insensitively; 0 for a target without traffic', async () => {
    const spec = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(metadata), cb));
    const name = spec.metricSpecs[0]!.metricName;
    for (const asked of [name, name.toUpperCase(), `s0-${name}`]) {
      const res = await unaryCall<{ metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[] }>((cb) =>
        scaler.client.GetMetrics({ scaledObjectRef: ref(metadata), metricName: asked }, cb),
      );
      assert.equal(res.metricValues.length, 1);
      assert.equal(res.metricValues[0]!.metricValue, 0);
      assert.equal(res.metricValues[0]!.metricValueFloat, 0);
    }
    const err = await callError((cb) => scaler.client.GetMetrics({ scaledObjectRef: ref(metadata), metricName: 'ebpf-latency-p95-000000000000' }, cb));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.ok(err.details.includes(name), `NOT_FOUND names the expected metric: ${err.details}`);
  });

  it('GetMetrics reports traffic with int and float fields', async () => {
    const md = { port: '8081', metric: 'rps', targetValue: '5' };
    const spec = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(md), cb));
    const targetId = spec.metricSpecs[0]!.metricName.split('-').at(-1)!;
    const collector = await connectCollector(scaler.ingestAddress);
    collector.send(report(1, [deltaFromLatencies(targetId, [1000, 2000, 3000])], clock.now()));
    await new Promise((r) => setTimeout(r, 100));
    const res = await unaryCall<{ metricValues: { metricValue: number; metricValueFloat: number }[] }>((cb) =>
      scaler.client.GetMetrics({ scaledObjectRef: ref(md), metricName: spec.metricSpecs[0]!.metricName }, cb),
    );
    // One second of history: 3 requests / 1 s.
    assert.equal(res.metricValues[0]!.metricValueFloat, 3);
    assert.equal(res.metricValues[0]!.metricValue, 3);
    collector.close();
  });

  it('IsActive is false for a target without traffic', async () => {
    const res = await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref({ port: '9999', targetValue: '1' }), cb));
    assert.equal(res.result, false);
  });

  it('StreamIsActive sends the current state at once', async () => {
    const stream = scaler.client.StreamIsActive(ref({ port: '9998', targetValue: '1' }));
    const first = await new Promise<{ result: boolean }>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
    });
    assert.equal(first.result, false);
    stream.cancel();
  });

  it('StreamMetricSpec sends the spec at once', async () => {
    const stream = scaler.client.StreamMetricSpec(ref({ port: '9997', metric: 'concurrency', targetValue: '4' }));
    const first = await new Promise<{ metricSpecs: { metricName: string; targetSizeFloat: number }[] }>((resolve, reject) => {
      stream.once('data', resolve);
      stream.once('error', reject);
    });
    assert.equal(first.metricSpecs.length, 1);
    assert.match(first.metricSpecs[0]!.metricName, /^ebpf-concurrency-[0-9a-f]{12}$/);
    assert.equal(first.metricSpecs[0]!.targetSizeFloat, 4);
    stream.cancel();
  });

  it('bad metadata on every RPC: INVALID_ARGUMENT naming the key; the server stays up', async () => {
    const bad = ref({ port: '8080', targetValue: 'lots' });
    for (const invoke of [
      (cb: grpc.requestCallback<unknown>) => scaler.client.IsActive(bad, cb),
      (cb: grpc.requestCallback<unknown>) => scaler.client.GetMetricSpec(bad, cb),
      (cb: grpc.requestCallback<unknown>) => scaler.client.GetMetrics({ scaledObjectRef: bad, metricName: 'x' }, cb),
    ]) {
      const err = await callError(invoke);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /targetValue/);
    }
    for (const open of [() => scaler.client.StreamIsActive(bad), () => scaler.client.StreamMetricSpec(bad)]) {
      const status = await new Promise<grpc.StatusObject>((resolve) => {
        const s = open();
        s.on('error', () => undefined);
        s.on('status', resolve);
      });
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
      assert.match(status.details, /targetValue/);
    }
    const err = await callError((cb) => scaler.client.IsActive(ref({ service: 'web', targetValue: '1' }), cb));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /service.*Kubernetes/);
    const ok = await unaryCall<{ result: boolean }>((cb) => scaler.client.IsActive(ref(metadata), cb));
    assert.equal(ok.result, false);
  });

  it('reflection lists the services the KEDA port serves (the ingest service has its own port)', async () => {
    const services = await reflectionList(scaler.address);
    for (const s of ['externalscaler.ExternalScaler', 'grpc.health.v1.Health']) {
      assert.ok(services.includes(s), `${s} in ${services.join(', ')}`);
    }
    assert.ok(!services.includes('kedaebpf.collector.v1.CollectorIngest'), services.join(', '));
  });

  it('reflection describes ExternalScaler (what grpcurl describe uses)', async () => {
    const response = await reflectionRequest(scaler.address, { file_containing_symbol: 'externalscaler.ExternalScaler' });
    const files = response.file_descriptor_response?.file_descriptor_proto ?? [];
    assert.ok(files.length >= 1);
    const text = Buffer.concat(files).toString('latin1');
    for (const word of ['ExternalScaler', 'StreamIsActive', 'StreamMetricSpec', 'scalerMetadata', 'metricValueFloat']) assert.ok(text.includes(word), word);
  });

  it('health says SERVING', async () => {
    assert.equal(await healthCheck(scaler.address, ''), 'SERVING');
    assert.equal(await healthCheck(scaler.address, 'externalscaler.ExternalScaler'), 'SERVING');
  });

  it('a second gRPC implementation (python3-grpcio) calls IsActive and GetMetrics', async () => {
    // Debian's python3-grpcio lives in the system interpreter, not in any pyenv/venv first on PATH.
    const python = existsSync(PYTHON) ? PYTHON : 'python3';
    const spec = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(metadata), cb));
    // Async: the server lives in this process, a sync spawn would block it.
    const { stdout: out } = await promisify(execFile)(python, ['-c', PYTHON_CLIENT, scaler.address, spec.metricSpecs[0]!.metricName], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    const result = JSON.parse(out) as { isActive: boolean; metricValues: { metricName: string; metricValue: number; metricValueFloat: number }[]; badCode: string };
    assert.equal(result.isActive, false);
    assert.equal(result.metricValues.length, 1);
    assert.equal(result.metricValues[0]!.metricName, spec.metricSpecs[0]!.metricName);
    assert.equal(result.metricValues[0]!.metricValueFloat, 0);
    assert.equal(result.badCode, 'INVALID_ARGUMENT');
  });
});
