import type { CollectorTick } from '../collector/types.js';

/**
 * A tick with many targets goes out as several reports, each well under the scaler's
 * --max-report-bytes (default 256 KiB), so no legitimate report is ever refused for its size
 * and no single decode on the scaler takes long. Every part has the tick's interval, end
 * time and wake-up flag, and its own sequence number; each target is in exactly one part.
 */

/** Target deltas per report part are added until this estimate would be passed. */
export const REPORT_PART_BYTES = 64 * 1024;

/** Upper estimate of one encoded TargetDelta: ids, counters and (index, count) varint pairs. */
function estimateBytes(targetId: string, buckets: number): number {
  return 64 + targetId.length + buckets * 12;
}

export function splitTick(tick: CollectorTick, maxBytes = REPORT_PART_BYTES): CollectorTick[] {
  const parts: CollectorTick[] = [];
  let current: CollectorTick['targets'][number][] = [];
  let bytes = 0;
  for (const target of tick.targets) {
    const size = estimateBytes(target.targetId, target.buckets.indices.length);
    if (current.length > 0 && bytes + size > maxBytes) {
      parts.push({ ...tick, targets: current });
      current = [];
      bytes = 0;
    }
    current.push(target);
    bytes += size;
  }
  parts.push({ ...tick, targets: current });
  return parts;
}
