import http2 from 'node:http2';
import { startLineServer } from './line-server.js';

/**
 * The VM matrix's HTTP/2 workload (node:http2, cleartext with prior knowledge): a server in
 * a child process with a fixed service time, and a client in the calling process keeping
 * several streams in flight on one connection. Both record every request, and together
 * they bracket what protocol framing times (a stream's HEADERS arriving at the server to
 * the server's response HEADERS leaving it):
 *  - the server measures from its 'stream' event (the HEADERS were in the kernel before) to
 *    just before respond() (nothing can leave before): a lower bound;
 *  - the client measures from request() (nothing sent before) to its 'response' event (the
 *    response HEADERS had arrived): an upper bound.
 * Under TCG the bracket is wide (measured in the 6.1 and 6.12 guests: server 22-23 ms,
 * kernel 28-32 ms, client 36-48 ms at a 20 ms service time): each side's HTTP/2 work on the
 * streams around it costs milliseconds there. It is still the tighter truth of the two at
 * hand: python3-grpcio (test/helpers/protocol-workloads.ts) runs in the guests too, but its
 * server adds 13-28 ms and its client 20-50 ms to the same calls, and its server can only
 * vouch for the 20 ms it sleeps (a bracket of 20-70 ms).
 */

const SERVER = String.raw`
import http2 from 'node:http2';
const [host, port, serviceMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
let active = 0;
const server = http2.createServer();
server.on('stream', (stream) => {
  const start = process.hrtime.bigint();
  const concurrent = ++active;
  stream.on('error', () => {});
  stream.resume();
  setTimeout(() => {
    const us = Number(process.hrtime.bigint() - start) / 1000;
    active--;
    if (stream.destroyed) return;
    stream.respond({ ':status': 200 });
    stream.end('ok');
    process.stdout.write(Math.round(us) + ' ' + concurrent + '\n');
  }, serviceMs);
});
server.listen(port, host, () => console.log('ready'));
`;

export interface H2Server {
  /** Per answered request: 'stream' event -> just before respond(), microseconds. */
  readonly handledUs: number[];
  /** The most requests the server held at once. */
  readonly maxConcurrent: () => number;
  stop(): void;
}

export async function startH2Server(host: string, port: number, serviceMs: number): Promise<H2Server> {
  const handledUs: number[] = [];
  let maxConcurrent = 0;
  const server = await startLineServer({
    what: `HTTP/2 server ${host}:${port}`,
    command: process.execPath,
    fileName: 'h2-server.mjs',
    script: SERVER,
    args: [host, String(port), String(serviceMs)],
    onLine: (line) => {
      const [us, concurrent] = line.split(' ').map(Number);
      handledUs.push(us!);
      maxConcurrent = Math.max(maxConcurrent, concurrent!);
    },
  });
  return { handledUs, maxConcurrent: () => maxConcurrent, stop: () => server.stop() };
}

export interface H2ClientRun {
  /** Per completed request: request() -> 'response' event, microseconds. */
  readonly latenciesUs: number[];
  readonly failures: number;
}

/**
 * `requests` GETs over one connection, `streams` in flight at a time; whatever has not
 * completed after `deadlineMs` fails (the session is destroyed).
 */
export async function runH2Client(host: string, port: number, options: { requests: number; streams: number; deadlineMs: number }): Promise<H2ClientRun> {
  const session = http2.connect(`http://${host}:${port}`);
  const latenciesUs: number[] = [];
  let failures = 0;
  let issued = 0;
  const deadline = setTimeout(() => session.destroy(new Error(`HTTP/2 client: deadline of ${options.deadlineMs} ms passed`)), options.deadlineMs);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    session.on('error', () => {}); // each stream reports its own failure
    const one = (): Promise<void> =>
      new Promise<void>((resolve) => {
        const start = process.hrtime.bigint();
        const req = session.request({ ':method': 'GET', ':path': '/' }, { endStream: true });
        let answered = false;
        req.once('response', (headers) => {
          answered = headers[':status'] === 200;
          if (answered) latenciesUs.push(Math.round(Number(process.hrtime.bigint() - start) / 1000));
        });
        req.on('error', () => {});
        req.resume();
        req.once('close', () => {
          if (!answered) failures++;
          resolve();
        });
      });
    const worker = async (): Promise<void> => {
      while (issued < options.requests && !session.destroyed) {
        issued++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: options.streams }, worker));
    failures += options.requests - issued;
  } finally {
    clearTimeout(deadline);
    session.close();
  }
  return { latenciesUs, failures };
}
