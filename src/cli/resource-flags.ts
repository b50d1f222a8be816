import { z } from 'zod';
import { byteSizeSchema } from '../config/flag-schemas.js';
import type { FlagSpec } from '../config/flags.js';
import { DEFAULT_MAX_HISTOGRAM_BYTES, DEFAULT_MAX_REPORT_BYTES, DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT } from '../scaler/limits.js';

const mib = (bytes: number): string => `${bytes / 1024 / 1024}Mi`;
const kib = (bytes: number): string => `${bytes / 1024}Ki`;

/** The scaler's resource bounds beyond --max-targets (docs/security.md, "Memory and limits"). */
export const resourceFlags = [
  {
    name: 'max-report-bytes',
    env: 'KEDA_EBPF_MAX_REPORT_BYTES',
    valueName: 'SIZE',
    description: `Largest gRPC message the scaler decodes (collector reports; KEDA's are far smaller); a bigger one ends its stream with RESOURCE_EXHAUSTED before it is decoded. Default ${kib(DEFAULT_MAX_REPORT_BYTES)}.`,
    schema: byteSizeSchema(kib(DEFAULT_MAX_REPORT_BYTES), 64 * 1024, 64 * 1024 * 1024),
  },
  {
    name: 'max-histogram-memory',
    env: 'KEDA_EBPF_MAX_HISTOGRAM_MEMORY',
    valueName: 'SIZE',
    description: `Budget for latency histogram buckets over all targets; past it new buckets are dropped (counted) while counters go on. Default ${mib(DEFAULT_MAX_HISTOGRAM_BYTES)}.`,
    schema: byteSizeSchema(mib(DEFAULT_MAX_HISTOGRAM_BYTES), 1024 * 1024, 64 * 1024 ** 3),
  },
  {
    name: 'max-targets-per-scaledobject',
    env: 'KEDA_EBPF_MAX_TARGETS_PER_SCALEDOBJECT',
    valueName: 'N',
    description: `Most targets one ScaledObject holds; beyond, its least recently asked target makes room. Default ${DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT}.`,
    schema: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_TARGETS_PER_SCALEDOBJECT),
  },
] as const satisfies readonly FlagSpec[];
