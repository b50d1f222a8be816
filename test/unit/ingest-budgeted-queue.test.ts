import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { BudgetedQueue } from '../../src/ingest/budgeted-queue.js';

/** The ingest queue's slicing, on a fake clock (each job "takes" 1 ms). */
describe('BudgetedQueue', () => {
  it('runs jobs in order, at most a budget of work per event-loop turn', async () => {
    let fakeMs = 0;
    const queue = new BudgetedQueue(3, () => fakeMs);
    const ran: number[] = [];
    for (let i = 0; i < 10; i++) {
      queue.push(() => {
        fakeMs += 1;
        ran.push(i);
      });
    }
    assert.deepEqual(ran, [], 'nothing runs in the turn that queued it');
    await nextTurn();
    assert.deepEqual(ran, [0, 1, 2], 'one slice: 3 jobs of 1 ms within a 3 ms budget');
    await nextTurn();
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5]);
    for (let i = 0; i < 5; i++) await nextTurn();
    assert.deepEqual(ran, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const stats = queue.stats();
    assert.equal(stats.jobs, 10);
    assert.equal(stats.queued, 0);
    assert.equal(stats.maxQueued, 10);
    assert.equal(stats.slicesAtBudget, 3);
  });

  it('a job that throws does not stop the queue', async () => {
    const queue = new BudgetedQueue();
    const ran: string[] = [];
    queue.push(() => {
      throw new Error('bad job');
    });
    queue.push(() => ran.push('next'));
    await nextTurn();
    assert.deepEqual(ran, ['next']);
  });
});
