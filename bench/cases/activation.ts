import net from 'node:net';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { freePort, spawnCli, type CliProcess } from '../lib/procs.js';
import { shippedCollectorNodeFlags, shippedScalerNodeFlags } from '../lib/shipped-node-options.js';
import { quantile, round, sleep } from '../lib/stats.js';
import type { CaseContext, CaseNotes } from '../lib/types.js';

/**
 * Case 4: scale-from-zero wake-up. Per trial a fresh target whose only selector is a demand
 * address nobody listens on, a StreamIsActive stream open on it (as KEDA keeps one), then ONE
 * refused connection attempt from this process; the time from connect() to the stream
 * pushing `true`. Measured on two deployments, one after the other:
 * - a `standalone` process (scaler + collector in one, 1 s tick): the goal's figure;
 * - a `scaler` process and a `collector` process reporting to it over the ingest stream,
 *   each with the node flags its manifest ships, as a cluster runs them: the wake-up
 *   crosses a process boundary and the collector's own event loop.
 */

/** Time for the new target's watch set to reach the kernel maps before the attempt. */
const WATCH_SETTLE_MS = 250;
const TRIAL_TIMEOUT_MS = 5000;

function refusedAttempt(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('error', () => resolve());
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}

interface Trials {
  readonly times: number[];
  readonly timeouts: number;
}

/** `trials` wake-ups through the scaler at `port`, each on a demand port no earlier trial had. */
async function wakeTrials(client: KedaClient, trials: number, usedPorts: Set<number>, prefix: string): Promise<Trials> {
  const times: number[] = [];
  let timeouts = 0;
  for (let trial = 0; trial < trials; trial++) {
    // A port the kernel hands out twice would make a trial's target the same as an earlier
    // one's (the target id hashes the metadata): still active from that trial's attempt, its
    // stream opens with `true` and never changes, and the trial timed out (1 in 150 trials).
    let demandPort = await freePort();
    while (usedPorts.has(demandPort)) demandPort = await freePort();
    usedPorts.add(demandPort);
    const ref: KedaRef = {
      name: `${prefix}-${trial}`,
      namespace: 'bench',
      metadata: { demandAddress: `127.0.0.1:${demandPort}`, metric: 'rps', targetValue: '1', activationWindow: '60s' },
    };
    let t0 = 0;
    let sawFirst!: () => void;
    const first = new Promise<void>((r) => (sawFirst = r));
    let activated!: (ms: number) => void;
    const active = new Promise<number>((r) => (activated = r));
    const call = client.streamIsActive(
      ref,
      (isActive) => {
        sawFirst();
        if (isActive && t0 > 0) activated(performance.now() - t0);
      },
      () => sawFirst(),
    );
    await Promise.race([first, sleep(TRIAL_TIMEOUT_MS)]);
    await sleep(WATCH_SETTLE_MS);
    t0 = performance.now();
    await refusedAttempt(demandPort);
    const ms = await Promise.race([active, sleep(TRIAL_TIMEOUT_MS).then(() => undefined)]);
    call.cancel();
    if (ms === undefined) timeouts++;
    else times.push(ms);
  }
  return { times, timeouts };
}

const percentiles = (t: Trials): { p50: number; p99: number } => ({ p50: round(quantile(t.times, 0.5), 2), p99: round(quantile(t.times, 0.99), 2) });

function trialNotes(prefix: string, t: Trials): CaseNotes {
  return {
    [`${prefix}timeouts`]: t.timeouts,
    [`${prefix}minMs`]: round(Math.min(...t.times), 2),
    [`${prefix}maxMs`]: round(Math.max(...t.times), 2),
    [`${prefix}meanMs`]: round(t.times.reduce((s, v) => s + v, 0) / Math.max(1, t.times.length), 2),
  };
}

export async function activation(
  ctx: CaseContext,
): Promise<{ activationMs: { p50: number; p99: number }; separateProcessesMs: { p50: number; p99: number }; notes: CaseNotes }> {
  const trials = 50;
  const usedPorts = new Set<number>();
  const collectorNodeFlags = shippedCollectorNodeFlags();
  const log = (label: string, t: Trials): void => {
    const p = percentiles(t);
    ctx.log(`activation (${label}) over ${t.times.length} trials (${t.timeouts} timeouts): p50 ${p.p50} ms, p99 ${p.p99} ms, max ${round(Math.max(...t.times), 2)} ms`);
  };

  const port = await freePort();
  usedPorts.add(port);
  const standalone = spawnCli('standalone', ['--listen', `127.0.0.1:${port}`, '--tick', '1s', '--log-level', 'info']);
  const standaloneClient = new KedaClient(`127.0.0.1:${port}`);
  let inOne: Trials;
  try {
    await standalone.waitForLog(/standalone scaler and collector running/, 30_000);
    inOne = await wakeTrials(standaloneClient, trials, usedPorts, 'wake');
    log('standalone', inOne);
  } finally {
    standaloneClient.close();
    await standalone.stop();
  }

  const scalerPort = await freePort();
  const ingestPort = await freePort();
  usedPorts.add(scalerPort).add(ingestPort);
  const scaler = spawnCli('scaler', ['--listen', `127.0.0.1:${scalerPort}`, '--ingest-listen', `127.0.0.1:${ingestPort}`, '--ingest-auth', 'none', '--log-level', 'info'], {
    nodeFlags: shippedScalerNodeFlags(),
  });
  let collector: CliProcess | undefined;
  const client = new KedaClient(`127.0.0.1:${scalerPort}`);
  let split: Trials;
  try {
    await scaler.waitForLog(/scaler listening/, 30_000);
    collector = spawnCli('collector', ['--scaler', `127.0.0.1:${ingestPort}`, '--node', 'bench-node', '--tick', '1s', '--kubernetes', 'off', '--log-level', 'info'], {
      nodeFlags: collectorNodeFlags,
    });
    await collector.waitForLog(/collector running/, 30_000);
    split = await wakeTrials(client, trials, usedPorts, 'wake-split');
    log('scaler and collector processes', split);
  } finally {
    client.close();
    await collector?.stop();
    await scaler.stop();
  }

  return {
    activationMs: percentiles(inOne),
    separateProcessesMs: percentiles(split),
    notes: {
      trials,
      ...trialNotes('', inOne),
      ...trialNotes('separateProcesses.', split),
      collectorNodeFlags: collectorNodeFlags.join(' '),
      setup: `standalone --tick 1s, then scaler + collector --tick 1s processes with the manifests' node flags; fresh demandAddress target per trial, StreamIsActive open, ${WATCH_SETTLE_MS} ms for the watch set, one refused connect()`,
    },
  };
}
