import os from 'node:os';
import type { Command } from '../cli.js';
import {  } from '../config/flag-schemas.js';
import { parseFlags, type FlagSpec, type FlagValues } from '../config/flags.js';
import { COLLECTOR_CAPABILITIES } from '../collector/runtime.js';
import { createLogger, type Logger } from '../log.js';
import type { ScalerServer } from '../server/server.js';
import { CollectorMetrics } from '../metrics/collector-metrics.js';
import { metricsEndpoint } from '../metrics/endpoint.js';
import { ScalerMetrics } from '../metrics/scaler-metrics.js';
import { InProcessUplink } from '../stream/in-process-uplink.js';
import { VERSION } from '../version.js';
import { kernelFlags, openRuntimeOrExplain } from './collector.js';
import { scalerFlags, scalerServerFromFlags } from './scaler.js';
import { shutdownSignal } from './signals.js';

const SUMMARY =
  'Run scaler and collector in one process on this host, no Kubernetes: trigger metadata names ports (port, netns) and ' +
  'demand addresses (demandAddress) to observe. Needs root (or CAP_BPF + CAP_PERFMON) for the eBPF programs.';

/** The scaler's flags minus Kubernetes mode (standalone never talks to an API server). */
const KUBERNETES_ONLY = new Set(['kubernetes', 'kubeconfig', 'namespace', 'service-name']);
export const standaloneFlags = [...scalerFlags.filter((f) => !KUBERNETES_ONLY.has(f.name)), ...kernelFlags] as const satisfies readonly FlagSpec[];

export interface Standalone {
  readonly server: ScalerServer;
  /** The port the scaler listens on (useful with --listen HOST:0). */
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Scaler and collector in one process: the collector's reports go straight into the
 * scaler's ingest (same validation as over gRPC). Undefined when the kernel side cannot run
 * here; the reason was logged and printed as one sentence.
 */
export async function startStandalone(values: FlagValues<typeof standaloneFlags>, log: Logger): Promise<Standalone | undefined> {
  const runtime = openRuntimeOrExplain(log, values);
  if (!runtime) return undefined;
  const metrics = metricsEndpoint(values['metrics-listen'], log);
  const collectorMetrics = new CollectorMetrics(metrics.registry, { runtime });
  const server = scalerServerFromFlags(values, log, undefined, { collectorIntervalMs: values.tick, metrics: new ScalerMetrics(metrics.registry) });
  let port: number;
  try {
    ({ port } = await server.start());
    await metrics.start();
  } catch (err) {
    runtime.close();
    await server.stop();
    throw err;
  }
  const uplink = new InProcessUplink(
    server.ingest,
    {
      protocol_version: 1,
      node_name: os.hostname(),
      collector_id: `standalone-${process.pid}-${Date.now()}`,
      version: VERSION,
      hook_rung: runtime.hooks.rung,
      capabilities: [...COLLECTOR_CAPABILITIES],
    },
    (targets) => runtime.setWatchTargets(targets),
    log,
  );
  runtime.start(collectorMetrics.measuredUplink(uplink));
  log.info({ listen: values.listen, port, rung: runtime.hooks.rung, tickMs: values.tick }, 'standalone scaler and collector running');
  return {
    server,
    port,
    async stop() {
      runtime.close();
      uplink.close();
      await server.stop();
      await metrics.close();
    },
  };
}

export const standaloneCommand: Command = {
  summary: SUMMARY,
  flags: standaloneFlags,
  async run(argv, env) {
    const { values } = parseFlags(standaloneFlags, argv, env);
    const log = createLogger(values['log-level']);
    let standalone: Standalone | undefined;
    try {
      standalone = await startStandalone(values, log);
    } catch (err) {
      log.fatal({ err }, 'scaler cannot start');
      return 1;
    }
    if (!standalone) return 1;
    const signal = await shutdownSignal();
    log.info({ signal }, 'shutting down');
    await standalone.stop();
    return 0;
  },
};
