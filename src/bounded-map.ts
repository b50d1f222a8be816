/**
 * A Map used as a bounded cache with least-recently-set eviction. A Map iterates in insertion
 * order, so re-inserting a key makes it the newest and the first key is always the oldest:
 * no separate recency list is needed.
 */

/** Drops the oldest entries until at most `maxEntries` remain, handing each to `onEvict`. */
export function dropOldest<K, V>(map: Map<K, V>, maxEntries: number, onEvict?: (key: K, value: V) => void): void {
  while (map.size > maxEntries) {
    const oldest = map.entries().next();
    if (oldest.done === true) return;
    map.delete(oldest.value[0]);
    onEvict?.(oldest.value[0], oldest.value[1]);
  }
}

/** Sets `key` as the newest entry (moving it if present), then drops the oldest beyond `maxEntries`. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, maxEntries: number, onEvict?: (key: K, value: V) => void): void {
  map.delete(key);
  map.set(key, value);
  dropOldest(map, maxEntries, onEvict);
}
