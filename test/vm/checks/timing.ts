import { spawn, type ChildProcess } from 'node:child_process';
import { Histogram } from '../../../src/histogram/histogram.js';
import { sleep, targetOf, watchOnly } from '../../helpers/kernel-collector.js';
import { exactQuantile, runClients, startServer } from '../../helpers/kernel-workloads.js';
import { startTimedServer } from '../timed-server.js';
import { bracketErrorPct, P50_TOLERANCE_PCT, round1, type GuestCheck, type OkResult } from './context.js';

const TIMING_PORT = 8080;
const KEEPALIVE_PORT = 8090;

/** (a) request timing against a fixed-service-time server: exact count, p50 in the server's bracket. */
export async function timing({ core, host, args, problems }: GuestCheck): Promise<Pick<OkResult, 'requests' | 'p50' | 'meanErrorPct'>> {
  const server = await startTimedServer('127.0.0.1', TIMING_PORT, args['service-ms']);
  try {
    watchOnly(core, host.inode, 'timing', TIMING_PORT);
    await runClients(host, '127.0.0.1', TIMING_PORT, args.requests, 1, 'keepalive');
    const delta = targetOf(core.readTick().targets, 'timing');
    for (let i = 0; i < 100 && server.latencies.length < args.requests; i++) await sleep(50);
    const kernelP50 = Histogram.fromSparse(delta.buckets).quantileUs(0.5);
    const serverP50 = {
      lowUs: exactQuantile(server.latencies.map((l) => l.beforeSendUs), 0.5),
      highUs: exactQuantile(server.latencies.map((l) => l.afterSendUs), 0.5),
    };
    const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const serverMean = { lowUs: mean(server.latencies.map((l) => l.beforeSendUs)), highUs: mean(server.latencies.map((l) => l.afterSendUs)) };
    const errorPct = bracketErrorPct(kernelP50, serverP50);
    const meanErrorPct = bracketErrorPct(delta.latencySumUs / delta.requests, serverMean);
    if (delta.requests !== args.requests) problems.push(`requests counted ${delta.requests} of ${args.requests}`);
    if (server.latencies.length !== args.requests) problems.push(`server logged ${server.latencies.length} of ${args.requests} requests`);
    if (!(Math.abs(errorPct) <= P50_TOLERANCE_PCT)) {
      problems.push(
        `p50 ${(kernelP50 / 1000).toFixed(3)} ms vs server ${(serverP50.lowUs / 1000).toFixed(3)}-${(serverP50.highUs / 1000).toFixed(3)} ms ` +
          `(${errorPct.toFixed(1)} %, limit ${P50_TOLERANCE_PCT} %)`,
      );
    }
    return { requests: { counted: delta.requests, sent: args.requests }, p50: { kernelUs: Math.round(kernelP50), serverLowUs: serverP50.lowUs, serverHighUs: serverP50.highUs, errorPct: round1(errorPct) }, meanErrorPct: round1(meanErrorPct) };
  } finally {
    server.stop();
  }
}

/** (b) the keep-alive race: every fast keep-alive request counted while burners preempt the server. */
export async function keepaliveRace({ core, host, args, problems }: GuestCheck): Promise<{ counted: number; sent: number }> {
  const server = await startServer(host, '127.0.0.1', KEEPALIVE_PORT, 0, 'threaded');
  const burners: ChildProcess[] = [];
  try {
    watchOnly(core, host.inode, 'keepalive', KEEPALIVE_PORT);
    // Two bounded busy loops, each in its own process group, so the server thread is
    // preempted between its send and the hook: the window the race needs.
    for (let i = 0; i < 2; i++) burners.push(spawn('timeout', ['120', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore', detached: true }));
    await runClients(host, '127.0.0.1', KEEPALIVE_PORT, args['keepalive-requests'], args['keepalive-clients'], 'keepalive');
    await sleep(50);
    const delta = targetOf(core.readTick().targets, 'keepalive');
    const sent = args['keepalive-clients'] * args['keepalive-requests'];
    if (delta.requests !== sent) problems.push(`keep-alive race: counted ${delta.requests} of ${sent}`);
    if (delta.inFlight !== 0) problems.push(`keep-alive race: ${delta.inFlight} still in flight after the run`);
    return { counted: delta.requests, sent };
  } finally {
    for (const b of burners) {
      try {
        if (b.pid !== undefined) process.kill(-b.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    server.kill('SIGKILL');
  }
}
