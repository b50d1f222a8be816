import type { ReportUplink } from '../collector/agent.js';
import type { CollectorTick, ReceivedWatchTarget } from '../collector/types.js';
import type { Ingest } from '../ingest/ingest.js';
import type { HelloInput } from '../ingest/schema.js';
import type { Logger } from '../log.js';
import { monotonicMs } from '../clock.js';
import { tickToReport } from './report-encode.js';
import { parseWatchTargets } from './watch-target.js';

/**
 * Standalone mode: the collector hands its reports straight to the scaler's ingest in the
 * same process. Same protocol objects and validation as over gRPC, minus the socket (and
 * minus TLS, which a loopback hop to ourselves would otherwise need when mTLS is on).
 */
export class InProcessUplink implements ReportUplink {
  private sequence = 0;
  private readonly session;
  private readonly offWatchSet: () => void;

  constructor(
    ingest: Ingest,
    hello: HelloInput,
    onWatchSet: (targets: readonly ReceivedWatchTarget[]) => void,
    private readonly log: Logger,
  ) {
    this.session = ingest.openSession({ ...hello, monotonic_ms: Math.max(1, monotonicMs()) });
    const deliver = (targets: Parameters<typeof parseWatchTargets>[0]): void => {
      const parsed = parseWatchTargets(targets);
      if (parsed.rejected.length) log.warn({ rejected: parsed.rejected }, 'watch targets rejected');
      onWatchSet(parsed.targets);
    };
    this.offWatchSet = this.session.onWatchSet((watchSet) => deliver(watchSet.targets ?? []));
    deliver(this.session.watchSet().targets ?? []);
  }

  send(tick: CollectorTick): void {
    this.sequence++;
    const outcome = this.session.report(tickToReport(tick, this.sequence));
    if (!outcome.accepted) this.log.warn({ problem: outcome.problem, sequence: this.sequence }, 'own report rejected');
  }

  close(): void {
    this.offWatchSet();
    this.session.close();
  }
}
