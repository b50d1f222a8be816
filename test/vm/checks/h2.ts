import { Histogram } from '../../../src/histogram/histogram.js';
import { sleep, targetOf, watchOnly } from '../../helpers/kernel-collector.js';
import { exactQuantile } from '../../helpers/kernel-workloads.js';
import { runH2Client, startH2Server } from '../h2-workload.js';
import { bracketErrorPct, P50_TOLERANCE_PCT, round1, type GuestCheck, type OkResult } from './context.js';

const H2_PORT = 50051;
/** How often the HTTP/2 check reads a tick while the streams run. */
const H2_SAMPLE_MS = 50;

type H2Result = NonNullable<OkResult['h2']>;

/** (e) HTTP/2 timed per stream by protocol framing, or null where framing is not attached. */

export async function h2Timing({ core, host, args, problems }: GuestCheck): Promise<H2Result | null> {
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
