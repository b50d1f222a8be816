import { sleep, targetOf, watchOnly } from '../../helpers/kernel-collector.js';
import { runHalfCloseClient, runUnreadBodyClient, startHalfCloseServer } from '../../helpers/half-close.js';
import type { GuestCheck, OkResult } from './context.js';

const HALF_CLOSE_PORT = 8120;
const UNREAD_BODY_PORT = 8121;
/* The body must reach the server after it read the headers (else one recv takes both and
 * nothing stays unread): 30 ms later, well within an 80 ms service time even under TCG. */
const UNREAD_BODY = { serviceMs: 80, bodyAfterMs: 30, lingerMs: 100 } as const;
const REQUESTS = 10;

type HalfCloseResult = NonNullable<OkResult['halfClose']>;

/** (h) Clients that half-close after their request: the request's bytes and the FIN in one
 * segment (the socket already in CLOSE_WAIT at sk_data_ready) are each timed once, and a
 * FIN on its own (the control) begins nothing. Then the rule's documented side effect: a
 * body the server never read, followed by the client's FIN before the server closes, counts
 * one aborted request per connection beside the timed one. */
export async function halfClose({ core, host, args, problems }: GuestCheck): Promise<HalfCloseResult> {
  const server = await startHalfCloseServer(host, HALF_CLOSE_PORT, args['service-ms']);
  const counted = { oneSegment: 0, finAfter: 0 };
  try {
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
  } finally {
    server.kill('SIGKILL');
  }
  const lingering = await startHalfCloseServer(host, UNREAD_BODY_PORT, UNREAD_BODY.serviceMs, UNREAD_BODY.lingerMs);
  try {
    watchOnly(core, host.inode, 'unread-body', UNREAD_BODY_PORT);
    const durations = await runUnreadBodyClient(host, UNREAD_BODY_PORT, REQUESTS, UNREAD_BODY.bodyAfterMs);
    await sleep(100);
    const delta = targetOf(core.readTick().targets, 'unread-body');
    if (delta.requests !== durations.length) problems.push(`half-close (unread body, then FIN): counted ${delta.requests} of ${durations.length} requests`);
    if (delta.abortedRequests !== durations.length) problems.push(`half-close (unread body, then FIN): ${delta.abortedRequests} aborted requests, the README says one per connection (${durations.length})`);
    return { sent: REQUESTS, ...counted, unreadBodyAborted: delta.abortedRequests };
  } finally {
    lingering.kill('SIGKILL');
  }
}
