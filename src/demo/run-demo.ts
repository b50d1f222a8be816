import net from 'node:net';
import type { Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { hpaDesiredReplicas, type HpaDecision } from './hpa.js';
import { LoadGenerator, type LoadResult } from './load-generator.js';
import { normalPlan, scalePlan, shortPlan, type PhaseName } from './load-plan.js';
import { DemoOptions, demoTriggerMetadata, windowsOf, type DemoOptionsInput, type DemoOptionsParsed } from './options.js';
import { SampleServer, type SampleServerStats } from './sample-server.js';
import { evaluateChecks, renderSummary, summarizePhases, type DemoChecks, type PhaseSummary, type SampleRecord } from './summary.js';
import type { DemoMetricName, DemoTarget, MetricsSample, MetricsSource } from './types.js';
import { enterLiveView, latencyOf, leaveLiveView, redraw, renderFrame, renderLine, type ViewState, type ViewTargets } from './view.js';

/**
 * The demo orchestrator: sample server + load plan + a metrics source sampled twice a
 * second, the live view, and the closing summary with the four story checks.
 *
 * The deployment is simulated the way KEDA drives it: 0 replicas until the target is
 * active, 1 while active (the demo runs one real server; the HPA's pick above 1 is shown,
 * not enacted), back to 0 once inactive for the cooldown. With `lazyServer` the sample
 * server really follows that: it listens only while the deployment has a replica.
 */

export interface RunDemoArgs extends DemoOptionsInput {
  readonly metrics: MetricsSource;
  readonly out: Writable;
  /** Redraw in place (TTY) or print one plain line per second (CI, pipes). */
  readonly isTTY: boolean;
  readonly log: Logger;
  /** Abort ends the load plan early; the summary is still printed. */
  readonly signal?: AbortSignal;
  /** Millisecond clock shared by every timestamp (default: monotonic epoch ms). */
  readonly clock?: () => number;
}

export interface DemoResult {
  /** All four checks passed. */
  readonly ok: boolean;
  readonly checks: DemoChecks;
  readonly phases: readonly PhaseSummary[];
  readonly samples: readonly SampleRecord[];
  readonly client: LoadResult;
  readonly server: SampleServerStats;
  readonly port: number;
  readonly durationMs: number;
  readonly options: DemoOptionsParsed;
}

/** Timeout for one metrics sample: a stuck source must not freeze the demo. */
const SAMPLE_TIMEOUT_MS = 2_000;

/** Binds port 0 on `host`, reads the port the kernel picked, and releases it. */
export async function reserveLoopbackPort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (port === 0) throw new Error(`could not reserve a port on ${host}`);
  return port;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`metrics source did not answer within ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

function validSample(s: MetricsSample): MetricsSample {
  const clean = (n: number): number => (Number.isFinite(n) && n > 0 ? n : 0);
  return {
    active: s.active === true,
    rps: clean(s.rps),
    p50Ms: clean(s.p50Ms),
    p95Ms: clean(s.p95Ms),
    p99Ms: clean(s.p99Ms),
    concurrency: clean(s.concurrency),
  };
}

export async function runDemo(args: RunDemoArgs): Promise<DemoResult> {
  const { metrics, out, isTTY, log, signal } = args;
  const options = DemoOptions.parse(args);
  const clock = args.clock ?? (() => performance.timeOrigin + performance.now());
  const { windowMs, activationWindowMs } = windowsOf(options);
  const port = options.serverPort === 0 ? await reserveLoopbackPort(options.host) : options.serverPort;
  const server = new SampleServer({ host: options.host, port, workers: options.workers, serviceTimeMs: options.serviceTimeMs });
  const basePlan = options.short ? shortPlan(server.capacityRps) : normalPlan(server.capacityRps);
  const plan = options.timeScale === 1 ? basePlan : scalePlan(basePlan, options.timeScale);

  const log2 = log.child({ component: 'demo' });
  let startMs = clock();
  const phaseLines: string[] = [];
  let wake: (() => void) | undefined;
  const loadgen = new LoadGenerator({
    host: options.host,
    port,
    plan,
    clock,
    maxSockets: options.maxSockets,
    maxOutstanding: options.maxOutstanding,
    latencyWindowMs: windowMs,
    onPhase: (phase, atMs) => {
      log2.info({ phase, atS: (atMs - startMs) / 1000 }, 'demo phase');
      if (!isTTY) phaseLines.push(`--- phase ${phase} at t=${((atMs - startMs) / 1000).toFixed(1)}s ---`);
      // Sample at once on a phase change: activation timing starts at the first request.
      wake?.();
    },
  });

  const target: DemoTarget = {
    host: options.host,
    port,
    demandAddress: `${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`,
    windowMs,
    activationWindowMs,
    triggerMetadata: demoTriggerMetadata(options, port),
    clientStats: (nowMs, w) => loadgen.windowStats(nowMs, w),
    clock,
  };
  await metrics.prepare?.(target);
  if (!options.lazyServer) await server.start();
  log2.info({ port, short: options.short, lazyServer: options.lazyServer, windowMs, activationWindowMs }, 'demo starting');

  const targets: ViewTargets = {
    latencyMs: options.latencyTargetMs,
    latencyQuantile: options.latencyQuantile,
    rpsPerReplica: options.rpsTarget,
    concurrencyPerReplica: options.concurrencyTarget,
    tolerance: options.tolerance,
    minReplicas: options.minReplicas,
    maxReplicas: options.maxReplicas,
    cooldownMs: options.cooldownMs,
  };
  const samples: SampleRecord[] = [];
  let currentReplicas = options.lazyServer ? 0 : 1;
  let inactiveSince: number | undefined;
  let everActive = false;
  let endAt: number | undefined;
  let lastPlainAt = Number.NEGATIVE_INFINITY;
  let loadDone = false;
  const onAbort = (): void => {
    loadgen.stop();
    wake?.();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const setReplicas = async (n: number, why: string): Promise<void> => {
    if (n === currentReplicas) return;
    currentReplicas = n;
    if (!options.lazyServer) return;
    if (n > 0 && !server.running) {
      await server.start();
      log2.info({ port, why }, 'sample server started (deployment 0 -> 1)');
    } else if (n === 0 && server.running) {
      await server.stop();
      log2.info({ port, why }, 'sample server stopped (deployment -> 0)');
    }
  };

  if (isTTY) out.write(enterLiveView());
  let failure: unknown;
  startMs = clock();
  const loadPromise = loadgen.run().then((r) => {
    loadDone = true;
    wake?.();
    return r;
  });
  try {
    while (!loadDone) {
      const now = clock();
      let sample: MetricsSample | undefined;
      let scalerError: string | undefined;
      try {
        sample = validSample(await withTimeout(metrics.sample(now), SAMPLE_TIMEOUT_MS));
      } catch (err) {
        scalerError = err instanceof Error ? err.message : String(err);
        log2.warn({ err: scalerError }, 'metrics sample failed');
      }
      const current = loadgen.currentPhase();
      const phase: PhaseName = current === 'not-started' ? 'idle' : current === 'done' ? 'final-idle' : current;

      if (sample?.active) inactiveSince = undefined;
      else if (sample) inactiveSince ??= now;
      const decide = (metric: DemoMetricName): HpaDecision => {
        const common = {
          currentReplicas,
          minReplicas: options.minReplicas,
          maxReplicas: options.maxReplicas,
          tolerance: options.tolerance,
          active: sample?.active ?? currentReplicas > 0,
          inactiveForMs: inactiveSince === undefined ? 0 : now - inactiveSince,
          cooldownMs: options.cooldownMs,
        };
        if (metric === 'latency') {
          const value = sample ? latencyOf(sample, options.latencyQuantile) : 0;
          return hpaDesiredReplicas({ ...common, metricType: 'Value', metricValue: value, target: options.latencyTargetMs, unit: 'ms' });
        }
        if (metric === 'rps') {
          return hpaDesiredReplicas({ ...common, metricType: 'AverageValue', metricValue: sample?.rps ?? 0, target: options.rpsTarget, unit: 'rps' });
        }
        return hpaDesiredReplicas({ ...common, metricType: 'AverageValue', metricValue: sample?.concurrency ?? 0, target: options.concurrencyTarget });
      };
      const decisions = { latency: decide('latency'), rps: decide('rps'), concurrency: decide('concurrency') };
      const client = loadgen.windowStats(now, windowMs);
      const counters = loadgen.snapshot(now);
      samples.push({
        atMs: now - startMs,
        phase,
        scaler: sample,
        client,
        currentReplicas,
        replicas: { latency: decisions.latency.replicas, rps: decisions.rps.replicas, concurrency: decisions.concurrency.replicas },
      });

      const view: ViewState = {
        elapsedMs: now - startMs,
        phase,
        phaseElapsedMs: counters.phaseElapsedMs,
        offeredRps: counters.offeredRps,
        target: target.demandAddress,
        serverUp: server.running,
        currentReplicas,
        scaler: sample,
        scalerError,
        client,
        counters,
        decisions,
        targets,
        windowMs,
      };
      if (isTTY) {
        out.write(redraw(renderFrame(view)));
      } else {
        for (const line of phaseLines.splice(0)) out.write(`${line}\n`);
        if (now - lastPlainAt >= options.plainLineEveryMs) {
          lastPlainAt = now;
          out.write(`${renderLine(view)}\n`);
        }
      }

      // KEDA's part: 0 -> 1 on active, -> 0 after the cooldown.
      if (sample?.active) {
        everActive = true;
        await setReplicas(1, 'target active');
      } else if (sample && currentReplicas > 0 && inactiveSince !== undefined && now - inactiveSince >= options.cooldownMs) {
        // Only once the load is over: a lazy server must not vanish mid-ramp on a glitch.
        if (phase === 'final-idle' || phase === 'idle') await setReplicas(0, 'target inactive past cooldown');
      }
      if (options.lazyServer && !server.running && (phase === 'ramp-up' || phase === 'ramp-down')) {
        log2.warn('target never became active; starting the sample server anyway so the ramp has a server to hit');
        await setReplicas(1, 'ramp without activation');
      }
      if (phase === 'final-idle' && everActive && sample?.active === false && endAt === undefined) {
        endAt = now + options.lingerMs;
      }
      if (endAt !== undefined && now >= endAt) loadgen.stop();

      const interval = phase === 'first-request' && !everActive ? options.activationSampleIntervalMs : options.sampleIntervalMs;
      const wait = Math.max(0, interval - (clock() - now));
      if (!loadDone) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            wake = undefined;
            resolve();
          }, wait);
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
        });
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    loadgen.stop();
    if (isTTY) out.write(leaveLiveView());
  }
  // Clean up on every path: the load drains (bounded by its request timeout), the server
  // and the metrics source close, then a failure is passed on.
  const client = await loadPromise;
  const serverStats = server.stats();
  await server.stop();
  await metrics.close?.();
  if (failure !== undefined) throw failure;

  const timeline = {
    samples,
    phaseStarts: client.phases.map((p) => ({
      name: p.name,
      atMs: p.startMs - startMs,
      endMs: p.endMs === undefined ? undefined : p.endMs - startMs,
    })),
    firstRequestAtMs: client.firstRequestAtMs === undefined ? undefined : client.firstRequestAtMs - startMs,
    lastRequestAtMs: client.lastRequestAtMs === undefined ? undefined : client.lastRequestAtMs - startMs,
  };
  const phases = summarizePhases(timeline);
  const checks = evaluateChecks(timeline);
  const ok = checks.activationFromZero.ok && checks.scaleUp.ok && checks.scaleDown.ok && checks.returnToInactive.ok;
  const first = client.firstOutcome;
  const firstLine =
    first === undefined
      ? ''
      : first.outcome === 'ok'
        ? `First request: answered after ${(first.ms / 1000).toFixed(2)} s${options.holdAtZeroMs > 0 && options.lazyServer ? ' (held at zero replicas by holdAtZero, let through by its SYN retry once the server listened)' : ''}. `
        : `First request: ${first.outcome} after ${(first.ms / 1000).toFixed(2)} s${first.outcome === 'refused' ? ' (nothing listened at zero replicas; counted as demand)' : ''}. `;
  const note =
    firstLine +
    `Client totals: sent ${client.sent}, completed ${client.completed}, refused ${client.refused}, errors ${client.errors}, ` +
    `dropped ${client.dropped}; server served ${serverStats.served}, max queue ${serverStats.maxQueued}. ` +
    'Replica counts are the HPA formula\'s pick per sample (the demo runs one real server).';
  out.write(renderSummary(phases, checks, note));
  const durationMs = clock() - startMs;
  log2.info({ ok, durationS: durationMs / 1000 }, 'demo finished');
  return { ok, checks, phases, samples, client, server: serverStats, port, durationMs, options };
}
