import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

/**
 * grpc-js writes its own lines to stderr ("E No address added out of total 1 resolved")
 * beside the one sentence the CLI prints for the same failure. Route them into the process
 * logger instead, as JSON lines like every other event.
 */
export function routeGrpcLogs(log: Logger): void {
  const child = log.child({ component: 'grpc-js' });
  const write = (...args: unknown[]): void => child.warn(args.map((a) => (typeof a === 'string' ? a : String(a))).join(' '));
  grpc.setLogger({ error: write, info: write, debug: write } as unknown as Partial<Console>);
}
