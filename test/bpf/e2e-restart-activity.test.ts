import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KedaClient, type KedaRef } from '../../src/keda/client.js';
import { startDelayServer, startLoad } from '../helpers/e2e-load.js';
import { ProcessGroup, freePort, requireE2e, sleep, startCollectorProcess, startScalerProcess, type CliProcess } from '../helpers/e2e-processes.js';

/**
 * Issue 9, acceptance 3: a restarted scaler never tells KEDA "inactive" for a target with
 * traffic. Separate `scaler` and `collector` processes under a steady load; the scaler is
 * killed (-9) and started again on the same port RESTARTS times. Right after each start,
 * KEDA-shaped calls open StreamIsActive and call IsActive: the first message and the answer
 * wait for the collector's first reports (bounded by one collector interval plus a 2 s
 * connect grace) and must be true, every time.
 */

const RESTARTS = 10;
const RATE = 40;
const LOAD_SECONDS = 150;

const group = new ProcessGroup();
let scaler: CliProcess;

before(() => requireE2e());
after(async () => {
  await group.killAll();
});

/** The first StreamIsActive message (bounded) and how long it took. */
function firstStreamMessage(client: KedaClient, ref: KedaRef, timeoutMs: number): Promise<{ active: boolean | undefined; ms: number }> {
  const opened = Date.now();
  return new Promise((resolve) => {
    const call = client.streamIsActive(
      ref,
      (active) => {
        clearTimeout(timer);
        call.cancel();
        resolve({ active, ms: Date.now() - opened });
      },
      () => undefined,
    );
    const timer = setTimeout(() => {
      call.cancel();
      resolve({ active: undefined, ms: Date.now() - opened });
    }, timeoutMs);
  });
}

test(`${RESTARTS} scaler restarts under load: the first StreamIsActive message and IsActive are true every time`, async () => {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  scaler = await startScalerProcess(group, 'scaler-0', port);
  await startCollectorProcess(group, 'collector', [address], '250ms');
  const server = await startDelayServer((c, a) => group.spawn(c, a), '127.0.0.1');
  const ref: KedaRef = { name: 'restart-activity', namespace: 'default', metadata: { scalerAddress: address, port: String(server.port), metric: 'rps', targetValue: '10' } };
  const load = startLoad((c, a) => group.spawn(c, a), '127.0.0.1', server.port, [{ rate: RATE, delayMs: 5, seconds: LOAD_SECONDS }], 4);
  await load.phaseStarted(0);
  // Before any restart: the target is active.
  let client = new KedaClient(address);
  const warm = await firstStreamMessage(client, ref, 10_000);
  assert.equal(warm.active, true, 'the target is active before the restarts');
  client.close();

  const rounds: { stream: boolean | undefined; streamMs: number; isActive: boolean | string; isActiveMs: number }[] = [];
  for (let i = 1; i <= RESTARTS; i++) {
    await scaler.kill('SIGKILL');
    scaler = await startScalerProcess(group, `scaler-${i}`, port);
    client = new KedaClient(address);
    // KEDA reopens its stream and polls as soon as the scaler answers again.
    const calledAt = Date.now();
    const [stream, isActive] = await Promise.all([
      firstStreamMessage(client, ref, 10_000),
      client.isActive(ref, 10_000).then(
        (active) => ({ active: active as boolean | string, ms: Date.now() - calledAt }),
        (err: Error) => ({ active: err.message, ms: Date.now() - calledAt }),
      ),
    ]);
    rounds.push({ stream: stream.active, streamMs: stream.ms, isActive: isActive.active, isActiveMs: isActive.ms });
    client.close();
    await sleep(300);
  }
  load.child.kill('SIGKILL');
  console.log(
    `e2e-restart-activity: ${RESTARTS} restarts at ${RATE} req/s: first StreamIsActive ${rounds.map((r) => `${String(r.stream)}@${r.streamMs}ms`).join(' ')}; ` +
      `IsActive ${rounds.map((r) => `${String(r.isActive)}@${r.isActiveMs}ms`).join(' ')}`,
  );
  assert.deepEqual(rounds.map((r) => r.stream), Array(RESTARTS).fill(true), 'first StreamIsActive message after each restart');
  assert.deepEqual(rounds.map((r) => r.isActive), Array(RESTARTS).fill(true), 'IsActive right after each restart');
  // Bounded: connect grace (2 s) + one collector interval (1 s assumed by the scaler) + slack.
  for (const r of rounds) assert.ok(r.streamMs < 4000 && r.isActiveMs < 4000, `answers within the bound: ${JSON.stringify(r)}`);
});
