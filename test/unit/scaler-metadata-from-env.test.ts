import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ScalerError } from '../../src/errors.js';
import { acceptedForms, parseTriggerMetadata } from '../../src/scaler/metadata.js';
import { callError, ref, startTestScaler, unaryCall, type TestScaler } from '../helpers/scaler-server.js';

/** KEDA forwards `<key>FromEnv` with the resolved value: read as `<key>`; both set is an error. */

const rows: { key: string; value: string; read: (m: ReturnType<typeof parseTriggerMetadata>) => unknown; expect: unknown }[] = [
  { key: 'targetValue', value: '50', read: (m) => m.targetValue, expect: 50 },
  { key: 'window', value: '2m', read: (m) => m.windowMs, expect: 120_000 },
  { key: 'quantile', value: '0.99', read: (m) => m.quantile, expect: 0.99 },
  { key: 'port', value: '80,443', read: (m) => m.selection.ports, expect: [80, 443] },
  { key: 'metric', value: 'rps', read: (m) => m.metric, expect: 'rps' },
  { key: 'activationWindow', value: '10s', read: (m) => m.activationWindowMs, expect: 10_000 },
];

describe('<key>FromEnv', () => {
  for (const row of rows) {
    it(`${row.key}FromEnv is read as ${row.key}`, () => {
      const metadata: Record<string, string> = { port: '8080', targetValue: '10', [`${row.key}FromEnv`]: row.value };
      delete metadata[row.key];
      assert.deepEqual(row.read(parseTriggerMetadata(metadata)), row.expect);
    });
  }

  it('every key has a FromEnv form (same validation, error names the key)', () => {
    for (const key of Object.keys(acceptedForms)) {
      assert.throws(
        () => parseTriggerMetadata({ port: '8080', targetValue: '10', [key]: '', [`${key}FromEnv`]: '\u0000bad' }),
        (err: unknown) => err instanceof ScalerError && err.message.includes(`metadata "${key}"`),
        key,
      );
    }
  });

  it('both forms given: INVALID_ARGUMENT naming both keys', () => {
    assert.throws(
      () => parseTriggerMetadata({ port: '8080', targetValue: '10', targetValueFromEnv: '20' }),
      (err: unknown) => err instanceof ScalerError && err.code === 'INVALID_METADATA' && /"targetValue" and "targetValueFromEnv"/.test(err.message),
    );
  });

  describe('over gRPC', () => {
    let scaler: TestScaler;
    before(async () => {
      scaler = await startTestScaler();
    });
    after(async () => {
      await scaler.close();
    });

    it('KEDA\'s resolved FromEnv values work; both forms are INVALID_ARGUMENT', async () => {
      const res = await unaryCall<{ metricSpecs: { metricName: string; targetSizeFloat: number }[] }>((cb) =>
        scaler.client.GetMetricSpec(ref({ portFromEnv: '8080', targetValueFromEnv: '50', windowFromEnv: '1m', quantileFromEnv: '0.9' }), cb),
      );
      assert.equal(res.metricSpecs[0]!.targetSizeFloat, 50);
      assert.match(res.metricSpecs[0]!.metricName, /^ebpf-latency-p90-/);
      const err = await callError((cb) => scaler.client.IsActive(ref({ port: '8080', portFromEnv: '8081', targetValue: '1' }), cb));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /"port" and "portFromEnv"/);
    });
  });
});
