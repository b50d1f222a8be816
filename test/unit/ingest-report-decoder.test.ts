import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportDecoder, type DescriptorField } from '../../src/ingest/report-decoder.js';
import { loadCollector } from '../../src/proto/load.js';

const collector = loadCollector().kedaebpf.collector.v1;
const connect = collector.CollectorIngest.service.Connect;
const encode = connect.requestSerialize as (message: unknown) => Buffer;
const protobufDecode = (bytes: Buffer): unknown => connect.requestDeserialize(bytes);
const types = collector as unknown as Record<string, { type?: { field: readonly DescriptorField[] } } | undefined>;
const fast = reportDecoder((name) => types[name]?.type);

/** Deterministic pseudo-random numbers (a corpus that is the same on every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function value(r: () => number): number {
  const pick = r();
  if (pick < 0.3) return 0;
  if (pick < 0.6) return Math.floor(r() * 200);
  if (pick < 0.8) return Math.floor(r() * 2 ** 32);
  if (pick < 0.95) return Math.floor(r() * 2 ** 45);
  return Number.MAX_SAFE_INTEGER - Math.floor(r() * 10);
}

function report(r: () => number): unknown {
  const deltaFields = (collector.TargetDelta as unknown as { type: { field: DescriptorField[] } }).type.field;
  const targets = Array.from({ length: Math.floor(r() * 6) }, (_, i) => {
    const delta: Record<string, unknown> = {};
    for (const f of deltaFields) {
      if (r() < 0.3) continue;
      if (f.type === 'TYPE_STRING') delta[f.name] = r() < 0.1 ? 'é€𝄞' + String(i) : `t${i}-${Math.floor(r() * 1000)}`;
      else if (f.label === 'LABEL_REPEATED') delta[f.name] = Array.from({ length: Math.floor(r() * 10) }, () => (f.type === 'TYPE_UINT32' ? Math.floor(r() * 2 ** 32) : value(r)));
      else delta[f.name] = f.type === 'TYPE_UINT32' ? Math.floor(r() * 2 ** 32) : value(r);
    }
    return delta;
  });
  return {
    report: {
      sequence: value(r),
      interval_ms: value(r),
      end_unix_ms: r() < 0.1 ? -Math.floor(r() * 2 ** 40) : value(r),
      targets,
      wakeup: r() < 0.5,
      end_monotonic_ms: value(r),
    },
  };
}

function decodeBoth(bytes: Buffer): { fast: unknown; protobuf: unknown; protobufFailed: boolean } {
  let protobuf: unknown;
  let protobufFailed = false;
  try {
    protobuf = protobufDecode(bytes);
  } catch {
    protobufFailed = true;
  }
  return { fast: fast!(bytes), protobuf, protobufFailed };
}

test('well-formed reports decode to exactly what protobufjs (proto-loader toObject) gives', () => {
  assert.ok(fast, 'every report field type is one the decoder knows');
  const r = rng(1);
  for (let i = 0; i < 400; i++) {
    const bytes = encode(report(r));
    const both = decodeBoth(bytes);
    assert.notEqual(both.fast, undefined, `report ${i} decoded by the fast path`);
    assert.deepEqual(both.fast, both.protobuf, `report ${i}`);
    assert.deepEqual(Object.keys((both.fast as { report: object }).report), Object.keys((both.protobuf as { report: object }).report), 'same keys in the same order');
  }
});

test('mutated, truncated and other messages: the fast path declines or agrees with protobufjs, never differs', () => {
  const r = rng(7);
  let declined = 0;
  let agreed = 0;
  for (let i = 0; i < 1500; i++) {
    const bytes = Buffer.from(encode(report(r)));
    const mutation = r();
    let mutated: Buffer;
    if (mutation < 0.4 && bytes.length > 0) {
      mutated = Buffer.from(bytes);
      for (let k = 0; k < 1 + Math.floor(r() * 3); k++) mutated[Math.floor(r() * mutated.length)] = Math.floor(r() * 256);
    } else if (mutation < 0.7) {
      mutated = bytes.subarray(0, Math.floor(r() * bytes.length));
    } else if (mutation < 0.85) {
      // An unknown field appended to the report: protobufjs skips it.
      const extra = Buffer.from([(99 << 3) & 0x7f | 0x80, 99 >> 4, 0x01]);
      const inner = Buffer.concat([bytes.subarray(2 + (bytes[1]! >= 0x80 ? 1 : 0)), extra]);
      mutated = inner.length < 128 ? Buffer.concat([Buffer.from([0x12, inner.length]), inner]) : bytes;
    } else {
      mutated = encode({ hello: { collector_id: `c${i}`, node_name: 'n', version: 'v' } });
    }
    const both = decodeBoth(mutated);
    if (both.fast === undefined) {
      declined++;
      continue;
    }
    assert.equal(both.protobufFailed, false, `message ${i}: fast path decoded what protobufjs rejects`);
    assert.deepEqual(both.fast, both.protobuf, `message ${i}`);
    agreed++;
  }
  assert.ok(declined > 100 && agreed > 100, `both outcomes exercised (declined ${declined}, agreed ${agreed})`);
});
