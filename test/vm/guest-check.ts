import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { CollectorCore, CollectorUnavailableError } from '../../src/collector/core.js';
import { describeRejections, type Rung } from '../../src/collector/hook-ladder.js';
import type { WatchEntry } from '../../src/collector/types.js';
import { Histogram } from '../../src/histogram/histogram.js';
import { createLogger } from '../../src/log.js';
import { sleep, targetOf, watchOnly } from '../helpers/kernel-collector.js';
import { exactQuantile, runClients, startServer } from '../helpers/kernel-workloads.js';
import { hostNetns } from '../helpers/netns.js';
import { BLOCKING_CONNECTS } from '../helpers/sockets.js';
import { demandWakeupTrial } from '../helpers/demand-wakeup.js';
import { listenCounters } from '../helpers/netstat.js';
import { CHECK_LINE_PREFIX, PROBE_LINE_PREFIX, rungSchema, type CheckResult, type ProbeLine } from './report.js';
import { startTimedServer } from './timed-server.js';
import { runH2Client, startH2Server } from './h2-workload.js';
import { runHttpClient, startNginx } from '../helpers/protocol-workloads.js';

/**
 * The VM matrix's check, run inside a guest (scripts/vm-test.sh) from the project
 * directory: `node dist/cli.js probe` first (which rung does the collector pick by
 * itself?), then for each rung, forced in-process with CollectorCore.open({ rungs }):
 *  (a) request timing against a fixed 20 ms server on loopback: exact count, kernel p50
 *      within 5 % of the server's own per-request measurement (from the request's kernel
 *      receive timestamp to its sendall(), a bracket: see timed-server.ts);
 *  (b) the keep-alive race: many fast keep-alive requests on a few connections while two
 *      CPU burners preempt the server, every request counted (test/bpf/keepalive-race);
 *  (c) demand wake-up: refused connects to a watched address wake the listener; three
 *      blocking connects refused by a RST count 3 attempts, 3 refused (not twice);
 *  (d) listen-queue overflow: a listen(8) server accepting one connection per 5 ms, driven
 *      by 24 concurrent clients (150 requests): drops counted equal nstat ListenOverflows
 *      (1 % tolerance, test/bpf/listen-overflow.test.ts says why), or the program did not
 *      load on this kernel (null, compared with test/vm/expected.json);
 *  (e) HTTP/2 by protocol framing, where framing attached beside the rung (else null,
 *      compared with test/vm/expected.json): 160 GETs with a fixed 20 ms service time, 8
 *      streams in flight on one cleartext connection (node:http2, h2-workload.ts). Every
 *      completed request counted exactly, none left in flight, the kernel's in-flight gauge
 *      above 1 at least once (per-stream, not turn-taking), and the kernel p50 within 5 %
 *      of the bracket [server's own timing, client's] (see h2-workload.ts);
 *  (f) HTTP/1 uploads with `Expect: 100-continue` (nginx, fixed service time, python client
 *      recording each request): the interim `100 Continue` ends nothing, so requests are
 *      counted exactly (not twice), each interim response once, none left in flight, and
 *      the kernel p50 within 5 % of the bracket [nginx's $request_time, client's]. The
 *      fentry and kprobe rungs recognise the interim response in their send hook, the
 *      tp_btf rung in the framing egress program;
 *  (g) holdAtZero, where its programs attached (else null, compared with
 *      test/vm/expected.json; test/bpf/hold-counters.test.ts on the host): three connects to
 *      a target at zero wait (their SYNs held) and count once each as held and as demand, a
 *      listen() wakes the collector and shows as one listener, and once the target is ready
 *      all three connect, counted as released, none as timed out.
 * Ticks are read in-process: under TCG a CLI round trip can outlast a whole window.
 * Prints one `vm-probe` and one `vm-check` JSON line per rung (test/vm/report.ts).
 */

const argsSchema = z.object({
  rungs: z
    .string()
    .default('tp_btf,fentry,kprobe')
    .transform((s) => s.split(','))
    .pipe(z.array(rungSchema).min(1)),
  requests: z.coerce.number().int().min(10).max(10_000).default(200),
  'service-ms': z.coerce.number().min(1).max(1000).default(20),
  'keepalive-clients': z.coerce.number().int().min(1).max(16).default(4),
  'keepalive-requests': z.coerce.number().int().min(1).max(10_000).default(500),
  'wakeup-trials': z.coerce.number().int().min(1).max(100).default(5),
  'h2-requests': z.coerce.number().int().min(10).max(10_000).default(160),
  'h2-streams': z.coerce.number().int().min(2).max(64).default(8),
  'continue-requests': z.coerce.number().int().min(10).max(10_000).default(100),
});

const { values } = parseArgs({
  options: {
    rungs: { type: 'string' },
    requests: { type: 'string' },
    'service-ms': { type: 'string' },
    'keepalive-clients': { type: 'string' },
    'keepalive-requests': { type: 'string' },
    'wakeup-trials': { type: 'string' },
    'h2-requests': { type: 'string' },
    'h2-streams': { type: 'string' },
    'continue-requests': { type: 'string' },
  },
});
const parsed = argsSchema.safeParse(values);
if (!parsed.success) {
  console.error(`guest-check: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
  process.exit(2);
}
const args = parsed.data;

const TIMING_PORT = 8080;
const KEEPALIVE_PORT = 8090;
const DEMAND_PORT = 18931;
const LISTEN_PORT = 8100;
const H2_PORT = 50051;
const CONTINUE_PORT = 8110;
const HOLD_PORT = 8120;
/** Held clients connect at their first SYN retransmission after "ready" (1 s, then 3 s after the first SYN). */
const HOLD_RELEASE_BUDGET_MS = 6000;
/** How often the HTTP/2 check reads a tick while the streams run. */
const H2_SAMPLE_MS = 50;
const P50_TOLERANCE_PCT = 5;
/** Wake-up budget inside a guest (TCG is slow); the mechanism, not the speed, is checked. */
const WAKEUP_BUDGET_MS = 1000;

const host = hostNetns();
const log = createLogger(process.env.KES_TEST_LOG === '1' ? 'debug' : 'silent');
const secondsSince = (start: bigint): number => Math.round(Number(process.hrtime.bigint() - start) / 1e7) / 100;

async function runProbe(): Promise<ProbeLine> {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, ['dist/cli.js', 'probe'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exitCode = await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  let report: ProbeLine['report'] = null;
  try {
    const full = JSON.parse(out) as NonNullable<ProbeLine['report']>;
    report = { ok: full.ok, kernelRelease: full.kernelRelease, rung: full.rung, error: full.error };
  } catch {
    console.error(`guest-check: probe printed no JSON: ${out.slice(0, 200)}`);
  }
  return { exitCode, report, seconds: secondsSince(start) };
}

/** Why the loader refused `rung` (forcing one rung marks the others "not allowed"). */
function refusalReason(err: CollectorUnavailableError, rung: Rung): string {
  const own = err.rejected.filter((r) => r.rung === rung);
  const reason = own.length ? describeRejections(own) : err.message;
  return reason.replace(/\s+/g, ' ').trim();
}

async function timing(core: CollectorCore, problems: string[]): Promise<Pick<Extract<CheckResult, { result: 'ok' }>, 'requests' | 'p50' | 'meanErrorPct'>> {
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

async function keepaliveRace(core: CollectorCore, problems: string[]): Promise<{ counted: number; sent: number }> {
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

async function wakeup(core: CollectorCore, problems: string[]): Promise<number> {
  core.applyWatchSet([{ targetId: 'demand', servers: [], demand: [{ ip: '127.0.0.1', port: DEMAND_PORT }] }]);
  const latenciesMs: number[] = [];
  for (let trial = 0; trial < args['wakeup-trials']; trial++) {
    const result = await demandWakeupTrial(core, '127.0.0.1', DEMAND_PORT, WAKEUP_BUDGET_MS);
    if (!result) {
      problems.push(`demand wake-up: trial ${trial} woke nobody within ${WAKEUP_BUDGET_MS} ms`);
      return Number.NaN;
    }
    if (result.events[0]?.targetId !== 'demand') problems.push(`demand wake-up: woke ${result.events.map((e) => e.targetId).join(',')} instead of demand`);
    latenciesMs.push(result.latencyMs);
  }
  const tick = targetOf(core.readTick().targets, 'demand');
  if (tick.demandAttempts !== 1 || tick.demandRefused !== 1) {
    problems.push(`demand: last tick counted ${tick.demandAttempts} attempts / ${tick.demandRefused} refused, expected 1 / 1`);
  }
  // Blocking connects refused by a RST: the kernel clears their destination port before
  // release, so only the connect() mark's SYN_SENT flag (set by the demand program) keeps
  // the release program from counting them a second time.
  const refusedBlocking = await host.run('python3', ['-c', BLOCKING_CONNECTS, '127.0.0.1', String(DEMAND_PORT), '3']);
  const blocking = targetOf(core.readTick().targets, 'demand');
  if (refusedBlocking.trim() !== '3' || blocking.demandAttempts !== 3 || blocking.demandRefused !== 3) {
    problems.push(`demand: 3 blocking connects (${refusedBlocking.trim()} refused) counted ${blocking.demandAttempts} attempts / ${blocking.demandRefused} refused, expected 3 / 3`);
  }
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return Math.round(sorted[sorted.length >> 1]! * 100) / 100;
}

async function listenOverflow(core: CollectorCore, problems: string[]): Promise<{ counted: number; nstat: number } | null> {
  if (!core.listenOverflow) return null;
  core.applyWatchSet([{ targetId: 'listen', servers: [{ port: LISTEN_PORT, netnsInode: host.inode }], demand: [] }]);
  const server = host.spawn('python3', ['test/helpers/slow-accept-server.py', '127.0.0.1', String(LISTEN_PORT), '8', '5', '120']);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('listen-overflow server did not start within 30 s')), 30_000);
      server.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    core.readTick();
    const before = listenCounters(await host.run('cat', ['/proc/net/netstat']));
    await host.run('python3', ['test/helpers/recording-client.py', '127.0.0.1', String(LISTEN_PORT), '24', '150', '90'], 120_000);
    await sleep(100);
    const nstat = listenCounters(await host.run('cat', ['/proc/net/netstat'])).overflows - before.overflows;
    const tick = targetOf(core.readTick().targets, 'listen');
    const counted = (tick.listenSynDrops ?? 0) + (tick.listenAckDrops ?? 0);
    if (nstat === 0) problems.push('listen overflow: the load did not overflow the accept queue (nstat 0)');
    if (Math.abs(counted - nstat) > Math.max(1, Math.ceil(nstat * 0.01))) problems.push(`listen overflow: counted ${counted}, nstat ListenOverflows ${nstat}`);
    return { counted, nstat };
  } finally {
    server.kill('SIGKILL');
  }
}

type H2Result = NonNullable<Extract<CheckResult, { result: 'ok' }>['h2']>;

async function h2Timing(core: CollectorCore, problems: string[]): Promise<H2Result | null> {
  if (!core.framing) return null;
  const server = await startH2Server('127.0.0.1', H2_PORT, args['service-ms']);
  try {
    watchOnly(core, host.inode, 'h2', H2_PORT);
    const sent = args['h2-requests'];
    const kernel = new Histogram();
    const seen = { requests: 0, inFlight: 0, maxInFlight: 0, h2cConnections: 0, framingLost: 0, overLimit: 0 };
    const accumulate = (): void => {
      const delta = targetOf(core.readTick().targets, 'h2');
      kernel.addSparse(delta.buckets);
      seen.requests += delta.requests;
      seen.inFlight = delta.inFlight;
      seen.maxInFlight = Math.max(seen.maxInFlight, delta.inFlight);
      seen.h2cConnections += delta.protocol?.h2cConnections ?? 0;
      seen.framingLost += delta.protocol?.framingLost ?? 0;
      seen.overLimit += delta.protocol?.h2StreamsOverLimit ?? 0;
    };
    // Ticks are read while the streams run, to sample the in-flight gauge (turn-taking
    // could never show more than one per connection); their deltas are summed.
    let finished = false;
    const client = runH2Client('127.0.0.1', H2_PORT, { requests: sent, streams: args['h2-streams'], deadlineMs: 60_000 });
    client.then(
      () => (finished = true),
      () => (finished = true),
    );
    while (!finished) {
      await sleep(H2_SAMPLE_MS);
      accumulate();
    }
    const truth = await client;
    for (let i = 0; i < 100 && server.handledUs.length < truth.latenciesUs.length; i++) await sleep(50);
    accumulate();
    const completed = truth.latenciesUs.length;
    const kernelP50 = kernel.quantileUs(0.5);
    const bracket = { lowUs: exactQuantile(server.handledUs, 0.5), highUs: exactQuantile(truth.latenciesUs, 0.5) };
    const errorPct = completed ? bracketErrorPct(kernelP50, bracket) : Number.NaN;
    if (completed !== sent || truth.failures) problems.push(`h2: the client completed ${completed} of ${sent} requests (${truth.failures} failed)`);
    if (server.handledUs.length !== completed) problems.push(`h2: the server logged ${server.handledUs.length} of ${completed} completed requests`);
    if (seen.requests !== completed) problems.push(`h2: counted ${seen.requests} of ${completed} completed requests`);
    if (seen.inFlight !== 0) problems.push(`h2: ${seen.inFlight} still in flight after the run`);
    if (seen.h2cConnections !== 1) problems.push(`h2: ${seen.h2cConnections} connections framed as HTTP/2, expected 1`);
    if (seen.framingLost || seen.overLimit) problems.push(`h2: framing lost on ${seen.framingLost} connection(s), ${seen.overLimit} stream(s) over the limit`);
    if (server.maxConcurrent() < args['h2-streams']) problems.push(`h2: the server held at most ${server.maxConcurrent()} requests at once, not the ${args['h2-streams']} streams asked for`);
    if (seen.maxInFlight < 2) problems.push(`h2: at most ${seen.maxInFlight} stream(s) seen in flight at once, the server held up to ${server.maxConcurrent()}`);
    if (!(Math.abs(errorPct) <= P50_TOLERANCE_PCT)) {
      problems.push(
        `h2: p50 ${(kernelP50 / 1000).toFixed(3)} ms vs server-client ${(bracket.lowUs / 1000).toFixed(3)}-${(bracket.highUs / 1000).toFixed(3)} ms ` +
          `(${errorPct.toFixed(1)} %, limit ${P50_TOLERANCE_PCT} %)`,
      );
    }
    return {
      counted: seen.requests,
      sent,
      streams: server.maxConcurrent(),
      maxInFlight: seen.maxInFlight,
      p50: { kernelUs: Math.round(kernelP50), serverUs: bracket.lowUs, clientUs: bracket.highUs, errorPct: round1(errorPct) },
    };
  } finally {
    server.stop();
  }
}

type ContinueResult = NonNullable<Extract<CheckResult, { result: 'ok' }>['expectContinue']>;

async function expectContinue(core: CollectorCore, problems: string[]): Promise<ContinueResult> {
  const nginx = await startNginx(host, '127.0.0.1', CONTINUE_PORT, { tls: false });
  try {
    watchOnly(core, host.inode, 'continue', CONTINUE_PORT);
    const sent = args['continue-requests'];
    const serviceMs = args['service-ms'];
    const truth = await runHttpClient(host, '127.0.0.1', CONTINUE_PORT, {
      requests: sent,
      delays: { minMs: serviceMs, maxMs: serviceMs, seed: 1 },
      tls: 'none',
      connection: 'keepalive',
      expectContinue: true,
      deadlineS: 90,
    });
    await sleep(50);
    const delta = targetOf(core.readTick().targets, 'continue');
    const completed = truth.latenciesUs.length;
    const interim = delta.protocol?.interimResponses ?? 0;
    const kernelP50 = Histogram.fromSparse(delta.buckets).quantileUs(0.5);
    const nginxUs = nginx.requestTimesUs();
    const bracket = { lowUs: exactQuantile(nginxUs, 0.5), highUs: exactQuantile(truth.latenciesUs, 0.5) };
    const errorPct = completed && nginxUs.length ? bracketErrorPct(kernelP50, bracket) : Number.NaN;
    if (completed !== sent || truth.failures) problems.push(`100-continue: the client completed ${completed} of ${sent} uploads (${truth.failures} failed)`);
    if (delta.requests !== completed) problems.push(`100-continue: counted ${delta.requests} of ${completed} completed uploads`);
    if (interim !== completed) problems.push(`100-continue: ${interim} interim responses recognised of ${completed}`);
    if (delta.inFlight !== 0) problems.push(`100-continue: ${delta.inFlight} still in flight after the run`);
    if (!(Math.abs(errorPct) <= P50_TOLERANCE_PCT)) {
      problems.push(
        `100-continue: p50 ${(kernelP50 / 1000).toFixed(3)} ms vs nginx-client ${(bracket.lowUs / 1000).toFixed(3)}-${(bracket.highUs / 1000).toFixed(3)} ms ` +
          `(${errorPct.toFixed(1)} %, limit ${P50_TOLERANCE_PCT} %)`,
      );
    }
    return {
      counted: delta.requests,
      sent,
      interim,
      p50: { kernelUs: Math.round(kernelP50), serverUs: Math.round(bracket.lowUs), clientUs: Math.round(bracket.highUs), errorPct: round1(errorPct) },
    };
  } finally {
    nginx.child.kill('SIGKILL');
  }
}

type HoldResult = NonNullable<Extract<CheckResult, { result: 'ok' }>['hold']>;

async function holdAtZero(core: CollectorCore, problems: string[]): Promise<HoldResult | null> {
  if (!core.hold) return null;
  const entry = (ready: boolean): WatchEntry => ({
    targetId: 'held',
    servers: [{ port: HOLD_PORT }],
    demand: [{ ip: '127.0.0.1', port: HOLD_PORT }],
    hold: { holdAtZeroMs: 20_000, ready },
  });
  const outcomes: string[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer((c) => c.on('error', () => undefined).end('x'));
  try {
    core.applyWatchSet([entry(false)]);
    core.readTick();
    for (let i = 0; i < 3; i++) {
      outcomes.push('waiting');
      const socket = net.connect({ host: '127.0.0.1', port: HOLD_PORT });
      socket.once('connect', () => (outcomes[i] = 'connected'));
      // `on`: a reset after the connection (the server ends it) must not throw
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (outcomes[i] === 'waiting') outcomes[i] = err.code ?? 'error';
      });
      sockets.push(socket);
    }
    await sleep(300);
    const before = targetOf(core.readTick().targets, 'held');
    if (outcomes.some((o) => o !== 'waiting')) problems.push(`hold: before the target was ready the clients were ${outcomes.join(', ')}, not all waiting`);
    if (before.heldConnections !== 3 || before.demandAttempts !== 3) problems.push(`hold: ${before.heldConnections} held and ${before.demandAttempts} demand attempts counted for 3 connects`);

    const listenedAt = process.hrtime.bigint();
    const woke = new Promise<number>((resolve) => {
      const off = core.onWakeup((events) => {
        if (!events.some((e) => e.targetId === 'held')) return;
        off();
        resolve(Number(process.hrtime.bigint() - listenedAt) / 1e6);
      });
    });
    await new Promise<void>((resolve) => server.listen(HOLD_PORT, '127.0.0.1', resolve));
    const wakeupMs = await Promise.race([woke, sleep(WAKEUP_BUDGET_MS).then(() => Number.NaN)]);
    if (Number.isNaN(wakeupMs)) problems.push(`hold: listen() on the held target woke nobody within ${WAKEUP_BUDGET_MS} ms`);
    const listening = targetOf(core.readTick().targets, 'held');

    core.applyWatchSet([entry(true)]);
    const deadline = Date.now() + HOLD_RELEASE_BUDGET_MS;
    while (outcomes.some((o) => o === 'waiting') && Date.now() < deadline) await sleep(20);
    await sleep(50);
    const after = targetOf(core.readTick().targets, 'held');
    if (outcomes.some((o) => o !== 'connected')) problems.push(`hold: once ready the clients were ${outcomes.join(', ')}, not all connected within ${HOLD_RELEASE_BUDGET_MS} ms`);
    if (listening.listeners !== 1) problems.push(`hold: ${listening.listeners} listeners seen after listen(), expected 1`);
    if (after.releasedConnections !== 3 || after.timedOutConnections !== 0) problems.push(`hold: ${after.releasedConnections} released and ${after.timedOutConnections} timed out of 3 held`);
    return { held: before.heldConnections ?? 0, released: after.releasedConnections ?? 0, listeners: listening.listeners ?? 0, wakeupMs: Math.round(wakeupMs * 100) / 100 };
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

/**
 * How far `valueUs` lies outside the server's bracket [before sendall(), after sendall()],
 * in percent of the nearest edge (0 inside: the send hook fires somewhere in sendall()).
 */
function bracketErrorPct(valueUs: number, bracket: { lowUs: number; highUs: number }): number {
  if (valueUs < bracket.lowUs) return (100 * (valueUs - bracket.lowUs)) / bracket.lowUs;
  if (valueUs > bracket.highUs) return (100 * (valueUs - bracket.highUs)) / bracket.highUs;
  return 0;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

async function checkRung(rung: Rung): Promise<CheckResult> {
  const start = process.hrtime.bigint();
  let core: CollectorCore;
  try {
    core = CollectorCore.open({ logger: log, rungs: [rung] });
  } catch (err) {
    if (!(err instanceof CollectorUnavailableError)) throw err;
    return { rung, result: 'refused', reason: refusalReason(err, rung), seconds: secondsSince(start) };
  }
  const problems: string[] = [];
  try {
    const t = await timing(core, problems);
    const keepalive = await keepaliveRace(core, problems);
    const wakeupMs = await wakeup(core, problems);
    const overflow = await listenOverflow(core, problems);
    const h2 = await h2Timing(core, problems);
    const continued = await expectContinue(core, problems);
    const hold = await holdAtZero(core, problems);
    const connState = core.hooks.connState;
    if (problems.length) return { rung, connState, result: 'failed', problems, seconds: secondsSince(start) };
    return { rung, connState, result: 'ok', ...t, keepalive, wakeupMs, listenOverflow: overflow, framing: core.framing !== undefined, h2, expectContinue: continued, hold, seconds: secondsSince(start) };
  } catch (err) {
    problems.push(`check aborted: ${(err as Error).message.split('\n')[0]}`);
    return { rung, connState: core.hooks.connState, result: 'failed', problems, seconds: secondsSince(start) };
  } finally {
    core.close();
  }
}

console.log(PROBE_LINE_PREFIX + JSON.stringify(await runProbe()));
for (const rung of args.rungs) console.log(CHECK_LINE_PREFIX + JSON.stringify(await checkRung(rung)));
host.dispose();
