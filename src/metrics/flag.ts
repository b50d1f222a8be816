import { z } from 'zod';
import type { FlagSpec } from '../config/flags.js';
import { splitHostPort } from '../net/address.js';

/** The Prometheus exporters' conventional port range starts at 9464 (OpenTelemetry's default). */
export const DEFAULT_METRICS_LISTEN = '0.0.0.0:9464';

/** `--metrics-listen`: scaler, collector and standalone serve GET /metrics there; "off" disables. */
export const metricsListenFlag = {
  name: 'metrics-listen',
  env: 'KEDA_EBPF_METRICS_LISTEN',
  valueName: 'HOST:PORT|off',
  description: `Prometheus metrics (GET /metrics, names prefixed keda_ebpf_) on this address; "off" disables. Default ${DEFAULT_METRICS_LISTEN}.`,
  schema: z
    .string()
    .default(DEFAULT_METRICS_LISTEN)
    .refine((v) => v === 'off' || splitHostPort(v, { allowPortZero: true }) !== undefined, 'expected HOST:PORT (e.g. 0.0.0.0:9464, [::]:9464) or "off"'),
} as const satisfies FlagSpec;
