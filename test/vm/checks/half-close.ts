import { sleep, targetOf, watchOnly } from '../../helpers/kernel-collector.js';
import { runHalfCloseClient, startHalfCloseServer } from '../../helpers/half-close.js';
import type { GuestCheck, OkResult } from './context.js';

const HALF_CLOSE_PORT = 8120;
const REQUESTS = 10;

type HalfCloseResult = NonNullable<OkResult['halfClose']>;

/** (h) Clients that half-close after their request: the request's bytes and the FIN in one
 * segment (the socket already in CLOSE_WAIT at sk_data_ready) are each timed once, and a
 * FIN on its own (the control) begins nothing. */
export async function halfClose({ core, host, args, problems }: GuestCheck): Promise<HalfCloseResult> {
  const server = await startHalfCloseServer(host, HALF_CLOSE_PORT, args['service-ms']);
  try {
    const counted = { oneSegment: 0, finAfter: 0 };
    for (const oneSegment of [true, false]) {
      const what = oneSegment ? 'request and FIN in one segment' : 'FIN after the request';
      watchOnly(core, host.inode, 'half-close', HALF_CLOSE_PORT);
      const durations = await runHalfCloseClient(host, HALF_CLOSE_PORT, REQUESTS, oneSegment);
      await sleep(100);
      const delta = targetOf(core.readTick().targets, 'half-close');
      counted[oneSegment ? 'oneSegment' : 'finAfter'] = delta.requests;
      if (delta.requests !== durations.length) problems.push(`half-close (${what}): counted ${delta.requests} of ${durations.length} requests`);
      if (delta.inFlight !== 0 || delta.abortedRequests) problems.push(`half-close (${what}): ${delta.inFlight} in flight and ${delta.abortedRequests} aborted after the run (a FIN began a request)`);
    }
    return { sent: REQUESTS, ...counted };
  } finally {
    server.kill('SIGKILL');
  }
}
