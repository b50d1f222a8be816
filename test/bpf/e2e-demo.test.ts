import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ProcessGroup, requireE2e } from '../helpers/e2e-processes.js';

/**
 * Acceptance 7 (issue 4): `keda-ebpf-scaler demo --short` runs to completion (as in CI) and
 * its summary shows the four parts of the story, and (issue 14) its first request, sent at
 * zero replicas, is held and answered instead of refused.
 */

const TIMEOUT_MS = 120_000;
const STORY = ['[PASS] activation from zero', '[PASS] scale-up', '[PASS] scale-down', '[PASS] return to inactive'];

const group = new ProcessGroup();
after(() => group.killAll());

test('demo --short exits 0 and its summary passes activation, scale-up, scale-down and return to inactive', { timeout: TIMEOUT_MS + 10_000 }, async () => {
  requireE2e();
  const started = Date.now();
  const demo = group.cli('demo', ['demo', '--short']);
  const timer = setTimeout(() => void demo.kill('SIGKILL'), TIMEOUT_MS);
  const { code, signal } = await demo.exited;
  clearTimeout(timer);
  const tookS = (Date.now() - started) / 1000;
  const summary = demo.output.filter((l) => l.includes('[PASS]') || l.includes('[FAIL]'));
  console.log(`e2e-demo: exit ${code ?? signal} after ${tookS.toFixed(1)} s; summary: ${summary.map((l) => l.trim()).join(' | ')}`);
  assert.equal(code, 0, `demo exited ${code ?? signal}; last output:\n${demo.tail(30)}`);
  for (const line of STORY) assert.ok(demo.output.some((l) => l.includes(line)), `summary lacks "${line}"`);
  // issue 14: with the demo's default holdAtZero the first request is held, then answered.
  const first = demo.output.find((l) => l.includes('First request:'));
  console.log(`e2e-demo: ${first?.slice(0, first.indexOf(' Client totals'))}`);
  assert.match(first ?? '', /First request: answered after \d+\.\d+ s \(held at zero replicas/);
});
