import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadGenerator, assertLoopback } from '../../src/demo/load-generator.js';
import { expectedRequests, scalePlan, shortPlan, normalPlan, planDurationMs, type LoadPlan, type PhaseName } from '../../src/demo/load-plan.js';
import { SampleServer } from '../../src/demo/sample-server.js';

test('load generator: refuses anything but loopback IP literals', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1']) assert.doesNotThrow(() => assertLoopback(host), host);
  for (const host of ['10.0.0.1', '192.168.1.1', '0.0.0.0', 'localhost', 'example.com', '::', '2001:db8::1', '']) {
    assert.throws(() => assertLoopback(host), /only loopback/, host);
  }
  assert.throws(() => new LoadGenerator({ host: '8.8.8.8', port: 80, plan: shortPlan() }), /refuses target host/);
});

test('load plan: short fits CI, normal is about two minutes, ramp goes beyond capacity', () => {
  const short = shortPlan(400);
  const normal = normalPlan(400);
  assert.ok(planDurationMs(short) <= 60_000, `short ${planDurationMs(short)} ms`);
  assert.ok(planDurationMs(normal) >= 100_000 && planDurationMs(normal) <= 150_000, `normal ${planDurationMs(normal)} ms`);
  for (const plan of [short, normal]) {
    assert.deepEqual(plan.phases.map((p) => p.name), ['idle', 'first-request', 'ramp-up', 'ramp-down', 'final-idle']);
    const ramp = plan.phases[2]!;
    assert.ok(Math.max(...ramp.stepsRps) > 400, 'peak beyond capacity');
    assert.ok(plan.maxTotalRequests < 50_000);
  }
  const ramp = short.phases[2]!;
  // Integral of the steps over the whole phase: sum(step) x step length.
  const stepS = ramp.durationMs / ramp.stepsRps.length / 1000;
  assert.equal(Math.round(expectedRequests(ramp, ramp.durationMs)), Math.round(ramp.stepsRps.reduce((a, b) => a + b, 0) * stepS));
});

test('load generator: follows the short plan (time x0.1) against the sample server', async () => {
  const server = new SampleServer({ port: 0 });
  const port = await server.start();
  const plan = scalePlan(shortPlan(server.capacityRps), 0.1);
  const seen: PhaseName[] = [];
  const gen: LoadGenerator = new LoadGenerator({
    host: '127.0.0.1',
    port,
    plan,
    onPhase: (phase) => {
      seen.push(phase);
      // The final idle lasts until the caller sees the target inactive; here: 300 ms.
      if (phase === 'final-idle') setTimeout(() => gen.stop(), 300);
    },
  });
  const phasesDuringRun: string[] = [];
  const poll = setInterval(() => phasesDuringRun.push(gen.snapshot().phase), 50);
  const started = performance.now();
  try {
    const result = await gen.run();
    const elapsed = performance.now() - started;
    clearInterval(poll);
    assert.deepEqual(seen, ['idle', 'first-request', 'ramp-up', 'ramp-down', 'final-idle']);
    assert.equal(result.endedBy, 'stop');
    assert.ok(elapsed < planDurationMs(plan), `ended early by stop(): ${elapsed} ms`);
    const byName = new Map(result.phases.map((p) => [p.name, p]));
    assert.equal(byName.get('idle')!.sent, 0);
    assert.equal(byName.get('first-request')!.sent, 1, 'exactly one request in the first-request phase');
    assert.equal(byName.get('final-idle')!.sent, 0);
    for (const name of ['ramp-up', 'ramp-down'] as const) {
      const phase = plan.phases.find((p) => p.name === name)!;
      const want = expectedRequests(phase, phase.durationMs);
      const got = byName.get(name)!.sent;
      assert.ok(Math.abs(got - want) <= want * 0.05 + 3, `${name}: sent ${got}, plan ${want.toFixed(1)}`);
    }
    assert.ok(result.sent <= plan.maxTotalRequests);
    assert.equal(result.sent, result.completed + result.errors + result.refused);
    assert.equal(result.dropped, 0);
    assert.equal(result.errors, 0);
    assert.equal(result.refused, 0);
    assert.equal(result.outstanding, 0);
    assert.ok(result.firstRequestAtMs !== undefined && result.lastRequestAtMs! > result.firstRequestAtMs);
    assert.ok(phasesDuringRun.includes('ramp-up'));
    const snap = gen.snapshot();
    assert.equal(snap.phase, 'done');
    assert.equal(snap.sent, result.sent);
    assert.ok(snap.p50Ms > 0 && snap.p99Ms >= snap.p95Ms && snap.p95Ms >= snap.p50Ms);
    console.log(`sent ${result.sent}, completed ${result.completed}, p50 ${snap.p50Ms.toFixed(1)} ms, p99 ${snap.p99Ms.toFixed(1)} ms`);
  } finally {
    clearInterval(poll);
    await server.stop();
  }
});

test('load generator: a refused first request is counted as refused demand', async () => {
  const probe = new SampleServer({ port: 0 });
  const port = await probe.start();
  await probe.stop(); // nothing listens on `port` now
  const plan: LoadPlan = {
    phases: [{ name: 'first-request', durationMs: 200, stepsRps: [], single: true }],
    maxTotalRequests: 10,
    maxDurationMs: 2_000,
  };
  const gen = new LoadGenerator({ host: '127.0.0.1', port, plan });
  const result = await gen.run();
  assert.equal(result.sent, 1);
  assert.equal(result.refused, 1);
  assert.equal(result.completed, 0);
  const w = gen.windowStats(performance.timeOrigin + performance.now(), 5_000);
  assert.equal(w.attempts, 1);
  assert.ok(w.refusedRps > 0);
});

test('load generator: hard bounds on total requests and duration hold', async () => {
  const server = new SampleServer({ port: 0, serviceTimeMs: 1, workers: 16 });
  const port = await server.start();
  try {
    const capped = new LoadGenerator({
      host: '127.0.0.1',
      port,
      plan: { phases: [{ name: 'ramp-up', durationMs: 5_000, stepsRps: [2_000] }], maxTotalRequests: 50, maxDurationMs: 5_000 },
    });
    const r1 = await capped.run();
    assert.equal(r1.endedBy, 'max-requests');
    assert.equal(r1.sent, 50);

    const started = performance.now();
    const timed = new LoadGenerator({
      host: '127.0.0.1',
      port,
      plan: { phases: [{ name: 'ramp-up', durationMs: 10_000, stepsRps: [20] }], maxTotalRequests: 10_000, maxDurationMs: 300 },
    });
    const r2 = await timed.run();
    assert.equal(r2.endedBy, 'max-duration');
    assert.ok(performance.now() - started < 2_000);
    assert.ok(r2.sent <= 8, `sent ${r2.sent}`);
  } finally {
    await server.stop();
  }
});
