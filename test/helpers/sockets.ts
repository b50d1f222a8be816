import net from 'node:net';

/** A TCP port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** One connection attempt that must be refused (nothing listens). */
export function refusedConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      reject(new Error(`something listens on ${host}:${port}`));
    });
    socket.once('error', () => resolve());
  });
}

/**
 * python3 -c BLOCKING_CONNECTS HOST PORT COUNT: COUNT blocking connect()s, printing how many
 * were refused. Unlike node's non-blocking connect, a blocking connect() refused by a RST
 * fails inside the kernel's connect(), which disconnects the socket (its destination port
 * is zeroed before release).
 */
export const BLOCKING_CONNECTS = [
  'import socket, sys',
  'n = 0',
  'for _ in range(int(sys.argv[3])):',
  '    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)',
  '    try: s.connect((sys.argv[1], int(sys.argv[2])))',
  '    except ConnectionRefusedError: n += 1',
  '    s.close()',
  'print(n)',
].join('\n');

/** A connect() whose outcome is watched: 'waiting', then 'connected' or the error's code. */
export function trackedConnect(host: string, port: number): { socket: net.Socket; outcome: () => string } {
  let outcome = 'waiting';
  const socket = net.connect({ host, port });
  socket.once('connect', () => (outcome = 'connected'));
  // `on`, not `once`: a reset after the connection (the server ends it) must not throw.
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (outcome === 'waiting') outcome = err.code ?? 'error';
  });
  return { socket, outcome: () => outcome };
}
