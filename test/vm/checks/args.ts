import { z } from 'zod';
import { rungSchema } from '../report.js';

/** The guest check's command line (scripts/vm-test.sh passes none: these are the defaults). */
export const guestArgsSchema = z.object({
  rungs: z
    .string()
    .default('tp_btf,fentry,kprobe')
    .transform((s) => s.split(','))
    .pipe(z.array(rungSchema).min(1)),
  requests: z.coerce.number().int().min(10).max(10_000).default(200),
  'service-ms': z.coerce.number().min(1).max(1000).default(20),
  'keepalive-clients': z.coerce.number().int().min(1).max(16).default(4),
  'keepalive-requests': z.coerce.number().int().min(1).max(10_000).default(500),
  'wakeup-trials': z.coerce.number().int().min(1).max(100).default(5),
  'h2-requests': z.coerce.number().int().min(10).max(10_000).default(160),
  'h2-streams': z.coerce.number().int().min(2).max(64).default(8),
  'continue-requests': z.coerce.number().int().min(10).max(10_000).default(100),
});

export type GuestArgs = z.infer<typeof guestArgsSchema>;
