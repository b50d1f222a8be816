import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { CollectorTick } from '../../src/collector/types.js';
import { BUCKET_COUNT } from '../../src/histogram/layout.js';
import { loadCollector } from '../../src/proto/load.js';
import { DEFAULT_MAX_REPORT_BYTES } from '../../src/scaler/limits.js';
import { splitTick } from '../../src/stream/report-split.js';
import { tickToReport } from '../../src/stream/report-encode.js';
import { connectCollector, hello } from '../helpers/scaler-collector.js';
import { ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';

/**
 * Attack 9 (issue 10): reports with 1M-entry bucket arrays (2.7 MB) were rejected only after
 * ~0.4 s of decoding each. Now a message over --max-report-bytes ends its stream with
 * RESOURCE_EXHAUSTED from its length prefix, before any decoding, and the collector splits
 * its ticks so that a legitimate report never comes near the limit.
 */

const serialize = loadCollector().kedaebpf.collector.v1.CollectorIngest.service.Connect.requestSerialize as (m: unknown) => Buffer;

describe('ingest decoding is bounded (attack 9)', () => {
  let scaler: TestScaler;
  before(async () => {
    scaler = await startTestScaler();
  });
  after(() => scaler.close());

  it('a 1M-entry report is refused before decoding; other clients are served', async () => {
    const collector = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'huge', node_name: 'huge' }));
    const entries = 1_000_000;
    const huge = {
      sequence: 1,
      interval_ms: 1000,
      end_unix_ms: Date.now(),
      wakeup: false,
      targets: [{ target_id: 'x', requests: 1, latency_sum_us: 1, in_flight: 0, accepted_connections: 0, demand_attempts: 0, demand_refused: 0, bucket_index: new Array<number>(entries).fill(1), bucket_count: new Array<number>(entries).fill(1) }],
    };
    assert.ok(serialize({ report: huge }).length > 2_000_000);
    const before = scaler.server.stats().ingest;
    collector.send(huge);
    const status = await collector.status;
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
    assert.match(status.details, /larger than max/);
    const afterStats = scaler.server.stats().ingest;
    assert.equal(afterStats.reportsRejected, before.reportsRejected, 'never reached validation: never decoded');
    const answer = await unaryCall<{ result?: boolean }>((cb) => scaler.client.IsActive(ref({ port: '8080', targetValue: '1' }), cb));
    assert.equal(answer.result, false);
    collector.close();
  });

  it('collectors split a tick of 1000 full targets into reports well under the limit', () => {
    const tick: CollectorTick = {
      endUnixMs: Date.now(),
      intervalMs: 1000,
      wakeup: false,
      targets: Array.from({ length: 1000 }, (_, i) => ({
        targetId: `t${String(i).padStart(15, '0')}`,
        requests: 1e6,
        latencySumUs: 1e12,
        inFlight: 1000,
        acceptedConnections: 1e6,
        demandAttempts: 1e6,
        demandRefused: 1e6,
        buckets: { indices: [...Array(BUCKET_COUNT).keys()], counts: new Array<number>(BUCKET_COUNT).fill(1e9) },
      })),
    };
    const parts = splitTick(tick);
    const sizes = parts.map((p) => serialize({ report: tickToReport(p, 1) }).length);
    console.log(`1000 full targets: ${parts.length} reports, largest ${Math.max(...sizes)} bytes (limit ${DEFAULT_MAX_REPORT_BYTES})`);
    assert.ok(parts.length > 1);
    assert.ok(Math.max(...sizes) < DEFAULT_MAX_REPORT_BYTES / 2, `${Math.max(...sizes)}`);
    assert.equal(parts.reduce((n, p) => n + p.targets.length, 0), 1000, 'every target in exactly one part');
    assert.deepEqual(splitTick({ ...tick, targets: [] }).length, 1, 'an empty tick is still one report (a heartbeat)');
  });
});
