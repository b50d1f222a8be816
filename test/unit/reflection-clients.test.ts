import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PYTHON } from '../helpers/scaler-python.js';
import { connectCollector, deltaFromLatencies, report, type TestCollector } from '../helpers/scaler-collector.js';
import { ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';
import { servedFiles } from '../helpers/reflection-client.js';

/**
 * Reflection as grpcurl-class clients use it: `buf curl` (the Go binary npm @bufbuild/buf
 * ships; same reflection protocol and Go descriptor library as grpcurl) run from a folder
 * without any .proto file, and protobuf's own descriptor pool (python3-protobuf) loading
 * every served file. Then the README's grpcurl and buf curl blocks, run as written.
 */

const repo = fileURLToPath(new URL('../../', import.meta.url));
const BUF = join(repo, 'node_modules/.bin/buf');
const run = promisify(execFile);
const SERVICES = [
  'externalscaler.ExternalScaler',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
  'kedaebpf.collector.v1.CollectorIngest',
];
/** Same as the README's example trigger. */
const metadata = { port: '8080', metric: 'latency', quantile: '0.95', targetValue: '50' };

describe('reflection serves real descriptors', () => {
  let scaler: TestScaler;
  let collector: TestCollector;
  let emptyDir: string;
  let url: string;
  let traffic: NodeJS.Timeout;

  const buf = async (args: string[], timeoutMs = 20_000): Promise<string> => {
    // Async: the scaler lives in this process.
    const { stdout } = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', ...args], { cwd: emptyDir, encoding: 'utf8', timeout: timeoutMs });
    return stdout;
  };

  before(async () => {
    emptyDir = mkdtempSync(join(tmpdir(), 'no-protos-'));
    scaler = await startTestScaler();
    url = `http://${scaler.address}`;
    // Traffic on the example target, 100 ms of latency per request: active, p95 = 100 ms.
    const spec = await unaryCall<{ metricSpecs: { metricName: string }[] }>((cb) => scaler.client.GetMetricSpec(ref(metadata), cb));
    const targetId = spec.metricSpecs[0]!.metricName.split('-').at(-1)!;
    collector = await connectCollector(scaler.address);
    let sequence = 0;
    const send = (): void => collector.send(report(++sequence, [deltaFromLatencies(targetId, Array(20).fill(100_000))]));
    send();
    traffic = setInterval(send, 1000);
  });
  after(async () => {
    clearInterval(traffic);
    collector.close();
    await scaler.close();
    rmSync(emptyDir, { recursive: true, force: true });
  });

  it('buf curl lists every service and method', async () => {
    assert.deepEqual((await buf(['--list-services', url])).trim().split('\n'), SERVICES);
    const methods = (await buf(['--list-methods', url])).trim().split('\n');
    for (const m of ['GetMetricSpec', 'GetMetrics', 'IsActive', 'StreamIsActive', 'StreamMetricSpec']) assert.ok(methods.includes(`externalscaler.ExternalScaler/${m}`), m);
    for (const m of ['grpc.health.v1.Health/Check', 'grpc.health.v1.Health/Watch', 'kedaebpf.collector.v1.CollectorIngest/Connect', 'grpc.reflection.v1.ServerReflection/ServerReflectionInfo']) {
      assert.ok(methods.includes(m), m);
    }
  });

  it('buf curl calls GetMetricSpec, GetMetrics, IsActive, StreamIsActive (bounded) and Health/Check', async () => {
    const request = JSON.stringify(ref(metadata));
    const spec = JSON.parse(await buf(['-d', request, `${url}/externalscaler.ExternalScaler/GetMetricSpec`])) as { metricSpecs: { metricName: string; targetSizeFloat: number }[] };
    assert.match(spec.metricSpecs[0]!.metricName, /^ebpf-latency-p95-[0-9a-f]{12}$/);
    assert.equal(spec.metricSpecs[0]!.targetSizeFloat, 50);

    const metrics = JSON.parse(
      await buf(['-d', JSON.stringify({ scaledObjectRef: ref(metadata), metricName: spec.metricSpecs[0]!.metricName }), `${url}/externalscaler.ExternalScaler/GetMetrics`]),
    ) as { metricValues: { metricName: string; metricValueFloat: number }[] };
    assert.equal(metrics.metricValues.length, 1);
    assert.ok(metrics.metricValues[0]!.metricValueFloat >= 90 && metrics.metricValues[0]!.metricValueFloat <= 110, `p95 ~100 ms: ${metrics.metricValues[0]!.metricValueFloat}`);

    assert.deepEqual(JSON.parse(await buf(['-d', request, `${url}/externalscaler.ExternalScaler/IsActive`])), { result: true });

    // A server stream never ends by itself: bounded by buf's own --timeout, which then fails
    // the command with deadline_exceeded after printing what arrived.
    const stream = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--timeout', '2s', '-d', request, `${url}/externalscaler.ExternalScaler/StreamIsActive`], {
      cwd: emptyDir,
      encoding: 'utf8',
      timeout: 20_000,
    }).then(
      () => assert.fail('StreamIsActive ended by itself'),
      (err: { stdout: string; stderr: string }) => err,
    );
    assert.match(stream.stderr, /deadline_exceeded/);
    assert.deepEqual(JSON.parse(stream.stdout), { result: true });

    assert.deepEqual(JSON.parse(await buf([`${url}/grpc.health.v1.Health/Check`])), { status: 'SERVING' });
    assert.deepEqual(JSON.parse(await buf(['-d', '{"service": "externalscaler.ExternalScaler"}', `${url}/grpc.health.v1.Health/Check`])), { status: 'SERVING' });
  });

  it('every served file loads into protobuf\'s own descriptor pool (python3-protobuf)', async () => {
    const files = await servedFiles(scaler.address, SERVICES);
    assert.equal(files.length, 5, 'one file per service');
    const script = String.raw`
import base64, json, sys
from google.protobuf import descriptor_pb2, descriptor_pool
pool = descriptor_pool.DescriptorPool()
names = []
for line in sys.stdin.read().split():
    f = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(line))
    pool.Add(f)
    names.append(f.name)
ref = pool.FindMessageTypeByName('externalscaler.ScaledObjectRef')
md = ref.fields_by_name['scalerMetadata']
print(json.dumps({
    'files': sorted(names),
    'services': sorted(pool.FindFileByName(n).services_by_name[s].full_name for n in names for s in pool.FindFileByName(n).services_by_name),
    'map': md.message_type.GetOptions().map_entry, 'entry': md.message_type.full_name,
}))
`;
    const child = execFile(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 20_000 });
    child.stdin!.end(files.map((f) => f.toString('base64')).join('\n'));
    const out = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: string) => (stdout += d));
      child.stderr!.on('data', (d: string) => (stderr += d));
      child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python3 exited ${code}: ${stderr}`))));
    });
    const result = JSON.parse(out) as { files: string[]; services: string[]; map: boolean; entry: string };
    assert.deepEqual(result.files, ['collector.proto', 'externalscaler.proto', 'grpc/health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto']);
    assert.deepEqual(result.services, SERVICES);
    assert.equal(result.entry, 'externalscaler.ScaledObjectRef.ScalerMetadataEntry');
    assert.equal(result.map, true);
  });

  /** The README's sh block that follows `marker`, with localhost:9090 pointed at the test scaler. */
  const readmeBlock = (marker: string): string => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const at = readme.indexOf(marker);
    assert.ok(at >= 0, `README has "${marker}"`);
    const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
    assert.ok(block, `a sh block follows "${marker}"`);
    return block[1]!.replaceAll('localhost:9090', scaler.address);
  };

  /**
   * Runs a README block in bash. `buf` is the npm binary; a stream call gets --timeout 2s in
   * place of the reader's Ctrl-C. grpcurl (not packaged for Debian) is a bash function
   * translating the grpcurl lines into buf curl calls with the same request JSON.
   */
  const runBlock = async (block: string): Promise<string> => {
    const prelude = String.raw`
buf() {
  local args=("$@")
  case "${'$'}{args[-1]}" in */Stream*) args=("${'$'}{args[@]:0:${'$'}{#args[@]}-1}" --timeout 2s "${'$'}{args[-1]}") ;; esac
  "${BUF}" "${'$'}{args[@]}" || true
}
grpcurl() {
  local data="" rest=()
  while [ $# -gt 0 ]; do
    case "$1" in -plaintext) shift ;; -d) data="$2"; shift 2 ;; *) rest+=("$1"); shift ;; esac
  done
  local addr="${'$'}{rest[0]}" verb="${'$'}{rest[1]}"
  case "$verb" in
    list) if [ ${'$'}{#rest[@]} -gt 2 ]; then buf curl --protocol grpc --http2-prior-knowledge --list-methods "http://$addr" | grep "^${'$'}{rest[2]}/"; else buf curl --protocol grpc --http2-prior-knowledge --list-services "http://$addr"; fi ;;
    describe) buf curl --protocol grpc --http2-prior-knowledge --list-methods "http://$addr" | grep "^${'$'}{rest[2]}/" ;;
    *) if [ -n "$data" ]; then buf curl --protocol grpc --http2-prior-knowledge --emit-defaults -d "$data" "http://$addr/$verb"; else buf curl --protocol grpc --http2-prior-knowledge --emit-defaults "http://$addr/$verb"; fi ;;
  esac
}
`;
    const { stdout } = await run('bash', ['-c', prelude + block], { cwd: emptyDir, encoding: 'utf8', timeout: 60_000 });
    return stdout;
  };

  const assertReadmeOutput = (out: string): void => {
    for (const s of SERVICES) assert.ok(out.includes(s), `lists ${s}`);
    assert.ok(out.includes('externalscaler.ExternalScaler/StreamIsActive'), 'lists methods');
    assert.match(out, /"metricName": "ebpf-latency-p95-[0-9a-f]{12}"/);
    assert.match(out, /"metricValues": \[\s*\{\s*"metricName": "ebpf-latency-p95-[0-9a-f]{12}",\s*"metricValue": "\d+"/, 'GetMetrics answered');
    assert.match(out, /"result": true/);
    assert.match(out, /"status": "SERVING"/);
    assert.doesNotMatch(out, /not_found|invalid_argument|failed to/i);
  };

  it('the README\'s grpcurl block works as written', async () => {
    const out = await runBlock(readmeBlock('## grpcurl and buf curl'));
    assertReadmeOutput(out);
    assert.match(out, /"metricSpecs": \[\s*\{\s*"metricName": "ebpf-latency-p95-[0-9a-f]{12}",\s*"targetSize": "50"/, 'StreamMetricSpec answered');
  });

  it('the README\'s buf curl block works as written', async () => {
    assertReadmeOutput(await runBlock(readmeBlock('The same with `buf curl`')));
  });
});
