import { sleep, targetOf } from '../../helpers/kernel-collector.js';
import { listenCounters } from '../../helpers/netstat.js';
import type { GuestCheck } from './context.js';

const LISTEN_PORT = 8100;

/** (d) listen-queue overflow: drops counted as nstat counts them, or null where the program did not load. */
export async function listenOverflow({ core, host, problems }: GuestCheck): Promise<{ counted: number; nstat: number } | null> {
  if (!core.listenOverflow) return null;
  core.applyWatchSet([{ targetId: 'listen', servers: [{ port: LISTEN_PORT, netnsInode: host.inode }], demand: [] }]);
  const server = host.spawn('python3', ['test/helpers/slow-accept-server.py', '127.0.0.1', String(LISTEN_PORT), '8', '5', '120']);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('listen-overflow server did not start within 30 s')), 30_000);
      server.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    core.readTick();
    const before = listenCounters(await host.run('cat', ['/proc/net/netstat']));
    await host.run('python3', ['test/helpers/recording-client.py', '127.0.0.1', String(LISTEN_PORT), '24', '150', '90'], 120_000);
    await sleep(100);
    const nstat = listenCounters(await host.run('cat', ['/proc/net/netstat'])).overflows - before.overflows;
    const tick = targetOf(core.readTick().targets, 'listen');
    const counted = (tick.listenSynDrops ?? 0) + (tick.listenAckDrops ?? 0);
    if (nstat === 0) problems.push('listen overflow: the load did not overflow the accept queue (nstat 0)');
    if (Math.abs(counted - nstat) > Math.max(1, Math.ceil(nstat * 0.01))) problems.push(`listen overflow: counted ${counted}, nstat ListenOverflows ${nstat}`);
    return { counted, nstat };
  } finally {
    server.kill('SIGKILL');
  }
}
