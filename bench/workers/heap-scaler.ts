/**
 * The scaler (createScalerServer with the CLI's default bounds) in a process started with
 * --expose-gc, for the resource-bounds benchmark. On SIGUSR2 it collects garbage and prints
 * {"msg":"heap","heapUsedMb","externalMb" (array buffers included),"rssMb","store":{...}},
 * so live memory can be compared with the formula apart from garbage and the heap slack
 * that RSS also holds. With SAMPLE_MS it also prints every SAMPLE_MS
 * {"msg":"sample","rssMb","heapUsedMb","loopDelayP99Ms","loopDelayMaxMs", counters}: the
 * event-loop delay tells the scaler's own stalls from a busy client's.
 * Collectors dial its ingest port (loopback, any peer accepted, as `--ingest-auth none`),
 * printed as "ingestPort" on the "listening" line.
 *   node --expose-gc --import tsx bench/workers/heap-scaler.ts PORT [SAMPLE_MS]
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AnyPeerAuthenticator } from '../../src/ingest/auth/any-peer.js';
import { createLogger } from '../../src/log.js';
import { createScalerServer } from '../../src/server/server.js';

const [portArg, sampleArg] = process.argv.slice(2);
const server = createScalerServer({ listen: `127.0.0.1:${portArg ?? 0}`, ingest: { listen: '127.0.0.1:0', authenticator: new AnyPeerAuthenticator() }, log: createLogger('warn') });
const { port, ingestPort } = await server.start();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const say = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
process.on('SIGUSR2', () => {
  gc();
  gc();
  const m = process.memoryUsage();
  say({ msg: 'heap', heapUsedMb: m.heapUsed / 1e6, heapTotalMb: m.heapTotal / 1e6, externalMb: m.external / 1e6, arrayBuffersMb: m.arrayBuffers / 1e6, rssMb: m.rss / 1e6, store: server.stats().store });
});
if (sampleArg) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  setInterval(() => {
    const m = process.memoryUsage();
    const s = server.stats();
    say({
      msg: 'sample',
      rssMb: m.rss / 1e6,
      heapUsedMb: m.heapUsed / 1e6,
      heapTotalMb: m.heapTotal / 1e6,
      externalMb: m.external / 1e6,
      arrayBuffersMb: m.arrayBuffers / 1e6,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      loopDelayMaxMs: delay.max / 1e6,
      targets: s.store.targets,
      histogramBytes: s.store.histogramBytes,
      estimatedBytes: s.store.estimatedBytes,
      openStreams: s.openStreams,
      reportsAccepted: s.ingest.reportsAccepted,
      reportsRejected: s.ingest.reportsRejected,
      evaluations: s.activityStreams.evaluations,
    });
    delay.reset();
  }, Number(sampleArg)).unref();
}
say({ msg: 'listening', port, ingestPort });
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
