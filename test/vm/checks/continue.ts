import { Histogram } from '../../../src/histogram/histogram.js';
import { sleep, targetOf, watchOnly } from '../../helpers/kernel-collector.js';
import { exactQuantile } from '../../helpers/kernel-workloads.js';
import { runHttpClient, startNginx } from '../../helpers/protocol-workloads.js';
import { bracketErrorPct, P50_TOLERANCE_PCT, round1, type GuestCheck, type OkResult } from './context.js';

const CONTINUE_PORT = 8110;

type ContinueResult = NonNullable<OkResult['expectContinue']>;

/** (f) `Expect: 100-continue` uploads against nginx: counted once each, the interim response recognised. */

export async function expectContinue({ core, host, args, problems }: GuestCheck): Promise<ContinueResult> {
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
