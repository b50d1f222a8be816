import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dropOldest, setNewest } from '../../src/bounded-map.js';

test('setNewest keeps the most recently set keys, evicting the oldest in order', () => {
  const map = new Map<string, number>();
  const evicted: string[] = [];
  for (const [i, key] of ['a', 'b', 'c'].entries()) setNewest(map, key, i, 2, (k) => evicted.push(k));
  assert.deepEqual([...map.keys()], ['b', 'c']);
  assert.deepEqual(evicted, ['a']);
  // setting an existing key again makes it the newest: the other one goes next
  setNewest(map, 'b', 10, 2, (k) => evicted.push(k));
  setNewest(map, 'd', 11, 2, (k) => evicted.push(k));
  assert.deepEqual([...map.entries()], [['b', 10], ['d', 11]]);
  assert.deepEqual(evicted, ['a', 'c']);
});

test('dropOldest trims to the bound and leaves a map within it untouched', () => {
  const map = new Map([['x', 1], ['y', 2], ['z', 3]]);
  dropOldest(map, 5);
  assert.equal(map.size, 3);
  const evicted: [string, number][] = [];
  dropOldest(map, 1, (k, v) => evicted.push([k, v]));
  assert.deepEqual([...map.keys()], ['z']);
  assert.deepEqual(evicted, [['x', 1], ['y', 2]]);
  dropOldest(map, 0);
  assert.equal(map.size, 0);
});
