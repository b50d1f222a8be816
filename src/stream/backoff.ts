import type { BackoffOptions } from '../backoff.js';

/**
 * Collector -> scaler reconnects: 100 ms first, capped at 2 s, full jitter (so a scaler
 * restart is not met by every collector of the cluster in the same millisecond). A
 * restarted scaler is usually back within a second or two, and the end-to-end promise is
 * "metrics resume within 5 s of the scaler being back", so the worst-case wait after it is
 * up must stay well below that. A few hundred collectors reconnecting at <= 1 attempt/s
 * each is no load for a gRPC server.
 */
export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 100, maxMs: 2000, multiplier: 2, jitter: 'full' };
