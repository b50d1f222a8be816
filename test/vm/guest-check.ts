import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { CollectorCore, CollectorUnavailableError } from '../../src/collector/core.js';
import { describeRejections, type Rung } from '../../src/collector/hook-ladder.js';
import { createLogger } from '../../src/log.js';
import { hostNetns } from '../helpers/netns.js';
import { CHECK_LINE_PREFIX, PROBE_LINE_PREFIX, type CheckResult, type ProbeLine } from './report.js';
import { guestArgsSchema } from './checks/args.js';
import { expectContinue } from './checks/continue.js';
import { halfClose } from './checks/half-close.js';
import { wakeup } from './checks/demand.js';
import { h2Timing } from './checks/h2.js';
import { holdAtZero } from './checks/hold.js';
import { listenOverflow } from './checks/listen-overflow.js';
import { keepaliveRace, timing } from './checks/timing.js';

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
 *      all three connect, counted as released, none as timed out;
 *  (h) clients that half-close after their request (test/helpers/half-close.ts): 10
 *      requests whose bytes come with the FIN in one segment are each counted, and 10 whose
 *      FIN follows on its own are counted once, none left in flight or aborted; then 10
 *      POSTs whose body the server never reads, the client's FIN arriving before the server
 *      closes: each counted once and each adding one aborted request (the README's side effect).
 * Ticks are read in-process: under TCG a CLI round trip can outlast a whole window.
 * Prints one `vm-probe` and one `vm-check` JSON line per rung (test/vm/report.ts). Each
 * check is a module of test/vm/checks/.
 */

// every option is a string on the command line; the schema coerces and bounds it
const { values } = parseArgs({ options: Object.fromEntries(Object.keys(guestArgsSchema.shape).map((name) => [name, { type: 'string' as const }])) });
const parsed = guestArgsSchema.safeParse(values);
if (!parsed.success) {
  console.error(`guest-check: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
  process.exit(2);
}
const args = parsed.data;

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
  const check = { core, host, args, problems };
  try {
    const t = await timing(check);
    const keepalive = await keepaliveRace(check);
    const wakeupMs = await wakeup(check);
    const overflow = await listenOverflow(check);
    const h2 = await h2Timing(check);
    const continued = await expectContinue(check);
    const hold = await holdAtZero(check);
    const halfClosed = await halfClose(check);
    const connState = core.hooks.connState;
    if (problems.length) return { rung, connState, result: 'failed', problems, seconds: secondsSince(start) };
    return { rung, connState, result: 'ok', ...t, keepalive, wakeupMs, listenOverflow: overflow, framing: core.framing !== undefined, h2, expectContinue: continued, hold, halfClose: halfClosed, seconds: secondsSince(start) };
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
