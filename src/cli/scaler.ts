import { z } from 'zod';
import type { Command } from '../cli.js';
import { UsageError, formatHelp, parseFlags, type FlagSpec } from '../config/flags.js';
import { createLogger, logLevels } from '../log.js';
import { parseDurationMs } from '../scaler/duration.js';
import { DEFAULT_MAX_TARGETS, DEFAULT_TARGET_IDLE_EXPIRY_MS } from '../scaler/limits.js';
import { serverCredentials } from '../server/credentials.js';
import { DEFAULT_LISTEN, createScalerServer } from '../server/server.js';

const SUMMARY = 'Run the scaler: the gRPC service KEDA calls (externalscaler.ExternalScaler), fed by collector reports.';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:9090 or [::]:9090');
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === undefined || ms < 1000) {
        ctx.addIssue({ code: 'custom', message: `expected a duration >= 1s such as "15m", "90s", got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });
const filePath = z.string().min(1).optional();

export const scalerFlags = [
  { name: 'listen', env: 'KEDA_EBPF_LISTEN', valueName: 'HOST:PORT', description: `Address of the gRPC server (KEDA, collectors, reflection, health). Default ${DEFAULT_LISTEN}.`, schema: hostPort.default(DEFAULT_LISTEN) },
  { name: 'log-level', env: 'KEDA_EBPF_LOG_LEVEL', valueName: 'LEVEL', description: `Log level: ${logLevels.join(', ')}. Default info.`, schema: z.enum(logLevels).default('info') },
  {
    name: 'max-targets',
    env: 'KEDA_EBPF_MAX_TARGETS',
    valueName: 'N',
    description: `Most targets (distinct observed selections) kept; new ones beyond are refused with RESOURCE_EXHAUSTED. Default ${DEFAULT_MAX_TARGETS}.`,
    schema: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_TARGETS),
  },
  {
    name: 'target-idle-expiry',
    env: 'KEDA_EBPF_TARGET_IDLE_EXPIRY',
    valueName: 'DURATION',
    description: `Forget a target no RPC or stream asked about for this long (e.g. 15m). Default ${DEFAULT_TARGET_IDLE_EXPIRY_MS / 60_000}m.`,
    schema: duration(`${DEFAULT_TARGET_IDLE_EXPIRY_MS / 60_000}m`),
  },
  { name: 'tls-cert', env: 'KEDA_EBPF_TLS_CERT', valueName: 'FILE', description: 'PEM server certificate: serve TLS (needs --tls-key).', schema: filePath },
  { name: 'tls-key', env: 'KEDA_EBPF_TLS_KEY', valueName: 'FILE', description: 'PEM private key of --tls-cert.', schema: filePath },
  { name: 'tls-client-ca', env: 'KEDA_EBPF_TLS_CLIENT_CA', valueName: 'FILE', description: 'PEM CA: require client certificates signed by it (mTLS).', schema: filePath },
  { name: 'help', description: 'Show this help.', schema: z.boolean().default(false), isSwitch: true },
] as const satisfies readonly FlagSpec[];

export const scalerCommand: Command = {
  summary: SUMMARY,
  async run(argv, env) {
    const { values } = parseFlags(scalerFlags, argv, env);
    if (values.help) {
      console.log(formatHelp('scaler', SUMMARY, scalerFlags.filter((f) => f.name !== 'help')));
      return 0;
    }
    const log = createLogger(values['log-level']);
    let credentials;
    try {
      credentials = serverCredentials({
        ...(values['tls-cert'] !== undefined ? { certFile: values['tls-cert'] } : {}),
        ...(values['tls-key'] !== undefined ? { keyFile: values['tls-key'] } : {}),
        ...(values['tls-client-ca'] !== undefined ? { clientCaFile: values['tls-client-ca'] } : {}),
      });
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err), { cause: err });
    }
    const server = createScalerServer({
      listen: values.listen,
      credentials,
      log,
      maxTargets: values['max-targets'],
      targetIdleExpiryMs: values['target-idle-expiry'],
    });
    try {
      await server.start();
    } catch (err) {
      log.fatal({ err }, 'scaler cannot start');
      return 1;
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log.info({ signal }, 'shutting down');
    await server.stop();
    return 0;
  },
};
