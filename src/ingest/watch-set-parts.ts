import type { WatchSet } from '../proto/generated/kedaebpf/collector/v1/WatchSet.js';
import type { WatchTarget } from '../proto/generated/kedaebpf/collector/v1/WatchTarget.js';

/**
 * Bytes per WatchSet message: a quarter of gRPC's default 4 MiB receive limit, so a watch
 * set of any size reaches collectors that keep that default (one huge message used to break
 * every collector on every reconnect).
 */
export const WATCH_SET_PART_BYTES = 1024 * 1024;

/**
 * An upper bound of a target's protobuf size: its JSON text is longer (field names instead of
 * 1-byte tags, quotes, decimal digits), so parts sized by it stay under the budget.
 */
function sizeBound(target: WatchTarget): number {
  return Buffer.byteLength(JSON.stringify(target)) + 8;
}

/**
 * Splits one watch set into messages of at most `maxBytes` each (a single target larger than
 * that travels alone; the trigger limits keep one target far below gRPC's limit). Every part
 * carries the generation; an empty set is one empty part.
 */
export function splitWatchSet(watchSet: { generation: number; targets: readonly WatchTarget[] }, maxBytes = WATCH_SET_PART_BYTES): WatchSet[] {
  const groups: WatchTarget[][] = [];
  let current: WatchTarget[] = [];
  let bytes = 0;
  for (const target of watchSet.targets) {
    const size = sizeBound(target);
    if (current.length > 0 && bytes + size > maxBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(target);
    bytes += size;
  }
  groups.push(current);
  return groups.map((targets, part) => ({ generation: watchSet.generation, targets, part, parts: groups.length }));
}
