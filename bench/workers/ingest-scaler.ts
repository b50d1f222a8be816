/**
 * The scaler for case 7: the product's createScalerServer (the same gRPC services as the
 * `scaler` command), measuring report lag = merge time - the report's end_unix_ms (set by
 * the simulated collector when it sent the report; one clock).
 * Collectors dial INGEST_PORT (loopback, any peer accepted, as `--ingest-auth none`).
 * Prints {"msg":"listening","port","ingestPort"} and then every second {"msg":"ingest-stats", ...}.
 *   node --import tsx bench/workers/ingest-scaler.ts PORT MAX_TARGETS INGEST_PORT
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Histogram } from '../../src/histogram/histogram.js';
import { AnyPeerAuthenticator } from '../../src/ingest/auth/any-peer.js';
import { createLogger } from '../../src/log.js';
import { WindowStore } from '../../src/scaler/window-store.js';
import { createScalerServer } from '../../src/server/server.js';

const [port, maxTargets, ingestPort] = process.argv.slice(2);
const store = new WindowStore({ maxTargets: Number(maxTargets ?? 2000) });
const server = createScalerServer({
  listen: `127.0.0.1:${port ?? 0}`,
  ingest: { listen: `127.0.0.1:${ingestPort ?? 0}`, authenticator: new AnyPeerAuthenticator() },
  store,
  log: createLogger('warn'),
});
// Lag on one wall clock (simulators and scaler share this host): the report's end_unix_ms,
// stamped when the simulator sent it, to the moment its merge finished. (Placement times
// cannot serve: a report is placed by its collector's monotonic clock anchored at Hello, so
// merge time minus placement is the change in transit time since Hello, 0 when it shrank.)
let lag = new Histogram();
server.ingest.onReport((report) => {
  if (report.end_unix_ms > 0) lag.record(Math.max(1, Math.round((Date.now() - report.end_unix_ms) * 1000)));
});
const bound = await server.start();
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: bound.port, ingestPort: bound.ingestPort })}\n`);
// Event-loop delay tells whether lag is the scaler's own queue or happens before it.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
setInterval(() => {
  const eventLoopDelayP99Ms = loopDelay.percentile(99) / 1e6;
  const eventLoopDelayMaxMs = loopDelay.max / 1e6;
  loopDelay.reset();
  const measured = lag;
  lag = new Histogram();
  const stats = server.stats();
  process.stdout.write(
    `${JSON.stringify({
      msg: 'ingest-stats',
      atMs: Date.now(),
      deltasAccepted: stats.ingest.deltasAccepted,
      deltasUnknownTarget: stats.ingest.deltasUnknownTarget,
      reportsAccepted: stats.ingest.reportsAccepted,
      reportsRejected: stats.ingest.reportsRejected,
      collectorsConnected: stats.ingest.collectorsConnected,
      lag: measured.toSparse(),
      eventLoopDelayP99Ms,
      eventLoopDelayMaxMs,
    })}\n`,
  );
}, 1000);
const stop = (): void => void server.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
