import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitWatchSet } from '../../src/ingest/watch-set-parts.js';
import { loadCollector } from '../../src/proto/load.js';
import type { WatchSet__Output } from '../../src/proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { WatchTarget__Output } from '../../src/proto/generated/kedaebpf/collector/v1/WatchTarget.js';
import { WatchSetAssembler } from '../../src/stream/watch-set-assembly.js';

const target = (i: number, netnsLength = 4000): WatchTarget__Output => ({
  target_id: `t${i}`,
  servers: Array.from({ length: 16 }, (_, k) => ({ port: 1000 + k, netns_path: `/run/netns/${'n'.repeat(netnsLength)}`, pod_namespace: '', pod_selector: {} })),
  demand_addresses: ['10.0.0.1:80'],
  hold_at_zero_ms: 0,
  ready: false,
});

test('a watch set is split into messages whose encoded size stays under the budget, in order, one generation', () => {
  const { serialize } = { serialize: loadCollector().kedaebpf.collector.v1.CollectorIngest.service.Connect.responseSerialize };
  const targets = Array.from({ length: 100 }, (_, i) => target(i));
  const parts = splitWatchSet({ generation: 7, targets }, 256 * 1024);
  const sizes = parts.map((p) => serialize({ watch_set: p }).length);
  console.log(`100 targets of ~64 KB in parts of <= 256 KiB: ${parts.length} parts, largest ${Math.max(...sizes)} bytes encoded`);
  assert.ok(parts.length > 1);
  for (const size of sizes) assert.ok(size <= 256 * 1024, `part of ${size} bytes`);
  assert.deepEqual(parts.map((p) => p.part), parts.map((_, i) => i));
  assert.ok(parts.every((p) => p.generation === 7 && p.parts === parts.length));
  assert.deepEqual(parts.flatMap((p) => p.targets!.map((t) => t.target_id)), targets.map((t) => t.target_id));
  assert.deepEqual(splitWatchSet({ generation: 1, targets: [] }), [{ generation: 1, targets: [], part: 0, parts: 1 }], 'an empty set is one empty part');
});

test('the collector puts parts back together, and says so when a part is missing or out of order', () => {
  const asOutput = (ws: ReturnType<typeof splitWatchSet>[number]): WatchSet__Output => ({ generation: ws.generation as number, targets: ws.targets as WatchTarget__Output[], part: ws.part!, parts: ws.parts! });
  const parts = splitWatchSet({ generation: 3, targets: Array.from({ length: 10 }, (_, i) => target(i)) }, 100_000).map(asOutput);
  assert.ok(parts.length >= 3);
  const a = new WatchSetAssembler();
  const results = parts.map((p) => a.add(p));
  assert.ok(results.slice(0, -1).every((r) => r.kind === 'partial'));
  const last = results.at(-1)!;
  assert.equal(last.kind, 'complete');
  assert.equal(last.kind === 'complete' ? last.targets.length : 0, 10);

  const b = new WatchSetAssembler();
  b.add(parts[0]!);
  const skipped = b.add(parts[2]!);
  assert.equal(skipped.kind, 'broken');
  assert.match(skipped.kind === 'broken' ? skipped.problem : '', /part 2 of generation 3 arrived while expecting part 1 of generation 3/);
  const c = new WatchSetAssembler();
  c.add(parts[0]!);
  const superseded = c.add({ ...parts[0]!, generation: 4 });
  assert.equal(superseded.kind, 'broken', 'a new generation before the old one completed is reported');
  assert.equal(c.add({ ...parts[1]!, generation: 4 }).kind, 'partial', 'and the new one is gathered');
  assert.equal(new WatchSetAssembler().add({ generation: 1, targets: [], part: 0, parts: 0 }).kind, 'complete', 'parts 0 (a scaler that never splits) is a whole set');
});
