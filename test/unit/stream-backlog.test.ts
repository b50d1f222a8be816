import assert from 'node:assert/strict';
import { test } from 'node:test';
import { estimateReportBytes, ReportBacklog } from '../../src/stream/report-backlog.js';

const report = (sequence: number, targets = 1) => ({
  sequence,
  targets: Array.from({ length: targets }, (_, i) => ({ target_id: `t${i}`, bucket_index: [1, 2, 3], bucket_count: [1, 1, 1] })),
});

test('backlog keeps the newest reports up to maxReports', () => {
  const backlog = new ReportBacklog({ maxReports: 3, maxBytes: 1 << 20 });
  assert.equal(backlog.firstSequence, 0);
  assert.equal(backlog.get(1), undefined);
  for (let s = 1; s <= 10; s++) backlog.push(s, report(s));
  assert.equal(backlog.size, 3);
  assert.equal(backlog.firstSequence, 8);
  assert.equal(backlog.lastSequence, 10);
  assert.equal(backlog.get(7), undefined);
  assert.equal(backlog.get(9)?.sequence, 9);
  assert.equal(backlog.get(11), undefined);
});

test('backlog is bounded in bytes but always keeps the newest report', () => {
  const one = estimateReportBytes(report(1, 10));
  const backlog = new ReportBacklog({ maxReports: 1000, maxBytes: one * 4 + 1 });
  for (let s = 1; s <= 50; s++) backlog.push(s, report(s, 10));
  assert.equal(backlog.size, 4);
  assert.ok(backlog.bytes <= one * 4 + 1);
  const tiny = new ReportBacklog({ maxReports: 10, maxBytes: 1 });
  tiny.push(1, report(1));
  tiny.push(2, report(2));
  assert.equal(tiny.size, 1);
  assert.equal(tiny.firstSequence, 2);
});

test('backlog rejects sequences that do not follow on', () => {
  const backlog = new ReportBacklog();
  backlog.push(1, report(1));
  assert.throws(() => backlog.push(3, report(3)), /does not follow/);
});

test('backlog stays correct across internal compaction', () => {
  const backlog = new ReportBacklog({ maxReports: 5, maxBytes: 1 << 30 });
  for (let s = 1; s <= 5000; s++) backlog.push(s, report(s));
  assert.equal(backlog.size, 5);
  for (let s = 4996; s <= 5000; s++) assert.equal(backlog.get(s)?.sequence, s);
});
