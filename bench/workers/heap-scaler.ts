/**
 * The scaler (createScalerServer, default bounds) in a process started with --expose-gc, for
 * the resource-bounds benchmark: on SIGUSR2 it collects garbage and prints
 * {"msg":"heap","heapUsedMb","externalMb" (array buffers included),"rssMb","store":{...}}, so live memory can be compared with
 * the formula apart from garbage and V8's heap slack that RSS also holds.
 *   node --expose-gc --import tsx bench/workers/heap-scaler.ts PORT
 */
import { createLogger } from '../../src/log.js';
import { createScalerServer } from '../../src/server/server.js';

const server = createScalerServer({ listen: `127.0.0.1:${process.argv[2] ?? 0}`, log: createLogger('warn') });
const { port } = await server.start();
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const report = (): void => {
  gc();
  gc();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ msg: 'heap', heapUsedMb: m.heapUsed / 1e6, externalMb: m.external / 1e6, rssMb: m.rss / 1e6, store: server.stats().store })}\n`);
};
process.on('SIGUSR2', report);
process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
