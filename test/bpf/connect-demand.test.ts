import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { closeSync, constants, openSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { BpfObject } from '../../src/bpf/object.js';
import { CollectorCore, DEFAULT_BPF_OBJECT, type WakeupEvent } from '../../src/collector/core.js';
import { createLogger } from '../../src/log.js';
import { openCollector, sleep, targetOf } from '../helpers/kernel-collector.js';
import { freePort } from '../helpers/sockets.js';

/**
 * Acceptance 4 (issue 14): demand that does not depend on the CNI. A cgroup/connect4
 * program refuses connect() to the demand address the way a socket-level service load
 * balancer does for a Service without backends (EPERM, no SYN_SENT ever). 20/20 attempts
 * must still count as demand (and as refused) and each must wake the idle target. Without
 * the collector's connect hooks the same attempts count nothing: the hook is what sees them.
 */

const ATTEMPTS = 20;
const LB_OBJECT = path.join(path.dirname(DEFAULT_BPF_OBJECT), 'lb_refuse_connect.bpf.o');

/** The refusing "load balancer", attached to the same cgroup v2 root as the collector's hooks. */
function attachRefusingLb(cgroupPath: string, port: number): BpfObject {
  const lb = BpfObject.open(LB_OBJECT);
  try {
    lb.load();
    const key = Buffer.alloc(8);
    key.set([127, 0, 0, 1], 0);
    key.writeUInt16BE(port, 4);
    lb.map('lb_refused').update(key, Buffer.alloc(4, 1));
    const fd = openSync(cgroupPath, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      lb.attachCgroup('lb_refuse_connect4', fd);
    } finally {
      closeSync(fd);
    }
    return lb;
  } catch (err) {
    lb.close();
    throw err;
  }
}

/** One connect() the load balancer refuses: EPERM at once, then the socket is closed. */
function refusedByLb(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      reject(new Error(`connect to 127.0.0.1:${port} was not refused by the load balancer`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code ?? String(err));
    });
  });
}

let core: CollectorCore;
let lb: BpfObject;
let port: number;
before(async () => {
  core = openCollector();
  assert.ok(core.hold, 'the hold / connect() demand programs attached');
  port = await freePort();
  lb = attachRefusingLb(core.hold.cgroupPath, port);
});
after(() => {
  lb?.close();
  core?.close();
});

test(`${ATTEMPTS}/${ATTEMPTS} connect() attempts refused by a socket-level load balancer count as demand and each wakes the idle target`, async () => {
  core.applyWatchSet([{ targetId: 'lb-refused', servers: [], demand: [{ ip: '127.0.0.1', port }] }]);
  core.readTick();
  let woken = 0;
  let attempts = 0;
  let refused = 0;
  const codes = new Set<string>();
  const delaysMs: number[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    // Two idle ticks: the first reports the previous attempt, the second re-arms the wake-up.
    const idle = targetOf(core.readTick().targets, 'lb-refused');
    attempts += idle.demandAttempts;
    refused += idle.demandRefused;
    core.readTick();
    const woke = new Promise<readonly WakeupEvent[]>((resolve) => {
      const off = core.onWakeup((events) => {
        off();
        resolve(events);
      });
    });
    const start = process.hrtime.bigint();
    codes.add(await refusedByLb(port));
    const events = await Promise.race([woke, sleep(1000).then(() => undefined)]);
    if (events?.some((e) => e.targetId === 'lb-refused')) {
      woken++;
      delaysMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  const last = targetOf(core.readTick().targets, 'lb-refused');
  attempts += last.demandAttempts;
  refused += last.demandRefused;
  const sorted = delaysMs.sort((a, b) => a - b);
  console.log(
    `connect-demand: ${ATTEMPTS} connects refused by the LB (${[...codes].join(',')}): ${attempts} demand attempts, ${refused} refused, ` +
      `${woken}/${ATTEMPTS} wake-ups, connect() -> wake-up median ${sorted[sorted.length >> 1]?.toFixed(3)} ms, max ${sorted[sorted.length - 1]?.toFixed(3)} ms`,
  );
  assert.deepEqual([...codes], ['EPERM'], 'the load balancer refused every connect() before any SYN');
  assert.equal(attempts, ATTEMPTS);
  assert.equal(refused, ATTEMPTS);
  assert.equal(woken, ATTEMPTS);
});

test('control: without the connect() hooks (SYN_SENT only) the same refused attempts count nothing', async () => {
  core.close();
  const plain = CollectorCore.open({ logger: createLogger('silent'), hold: false });
  try {
    assert.equal(plain.hold, undefined);
    plain.applyWatchSet([{ targetId: 'lb-refused', servers: [], demand: [{ ip: '127.0.0.1', port }] }]);
    plain.readTick();
    for (let i = 0; i < 5; i++) assert.equal(await refusedByLb(port), 'EPERM');
    const tick = targetOf(plain.readTick().targets, 'lb-refused');
    console.log(`connect-demand: control without connect hooks: ${tick.demandAttempts} attempts counted of 5`);
    assert.equal(tick.demandAttempts, 0);
  } finally {
    plain.close();
  }
});
