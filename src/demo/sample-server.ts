import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The demo's workload: an HTTP/1.1 server whose latency grows with load the way a real
 * service's does. A fixed pool of `workers` each spends `serviceTimeMs` (+ jitter) per
 * request; requests beyond the pool wait in a FIFO queue, so latency is about
 * serviceTime x ceil(queue position / workers) and climbs steeply once the offered rate
 * exceeds workers / serviceTime.
 *
 * The response (headers and body) is written in one call after the wait: the eBPF
 * collector stops the clock at the first response byte, so a header flushed early would
 * hide the queueing from the kernel figures.
 */

export interface SampleServerOptions {
  /** Address to bind; loopback only (the demo's traffic rule). */
  readonly host?: string;
  /** 0 = ephemeral; read the bound port from `port` after start(). */
  readonly port: number;
  readonly workers?: number;
  readonly serviceTimeMs?: number;
  /** Uniform jitter in [-jitterMs, +jitterMs] added to each service time. */
  readonly jitterMs?: number;
  /** Requests queued beyond this get 503 at once (bounded memory). */
  readonly maxQueue?: number;
  /** Idle keep-alive connections are closed after this long. */
  readonly keepAliveTimeoutMs?: number;
}

export interface SampleServerStats {
  readonly served: number;
  readonly rejected: number;
  readonly queued: number;
  readonly inService: number;
  readonly maxQueued: number;
  readonly openConnections: number;
}

interface Job {
  readonly res: http.ServerResponse;
}

export const SAMPLE_SERVER_DEFAULTS = {
  host: '127.0.0.1',
  workers: 4,
  serviceTimeMs: 10,
  jitterMs: 1,
  // Far above what 64 client sockets can queue; only a misbehaving client reaches it.
  maxQueue: 10_000,
  keepAliveTimeoutMs: 5_000,
} as const;

export class SampleServer {
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly workers: number;
  private readonly serviceTimeMs: number;
  private readonly jitterMs: number;
  private readonly maxQueue: number;
  private readonly keepAliveTimeoutMs: number;
  private server: http.Server | undefined;
  private boundPort = 0;
  private readonly queue: Job[] = [];
  private queueHead = 0;
  private busy = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly sockets = new Set<Socket>();
  private served = 0;
  private rejected = 0;
  private maxQueued = 0;

  constructor(options: SampleServerOptions) {
    this.host = options.host ?? SAMPLE_SERVER_DEFAULTS.host;
    this.requestedPort = options.port;
    this.workers = Math.max(1, Math.floor(options.workers ?? SAMPLE_SERVER_DEFAULTS.workers));
    this.serviceTimeMs = Math.max(0, options.serviceTimeMs ?? SAMPLE_SERVER_DEFAULTS.serviceTimeMs);
    this.jitterMs = Math.max(0, options.jitterMs ?? SAMPLE_SERVER_DEFAULTS.jitterMs);
    this.maxQueue = options.maxQueue ?? SAMPLE_SERVER_DEFAULTS.maxQueue;
    this.keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? SAMPLE_SERVER_DEFAULTS.keepAliveTimeoutMs;
  }

  /** The bound port (0 before start()). */
  get port(): number {
    return this.boundPort;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Capacity in requests per second (workers / service time). */
  get capacityRps(): number {
    return this.serviceTimeMs > 0 ? (this.workers * 1000) / this.serviceTimeMs : Number.POSITIVE_INFINITY;
  }

  async start(): Promise<number> {
    if (this.server) return this.boundPort;
    const server = http.createServer({ keepAlive: true }, (req, res) => this.onRequest(req, res));
    server.keepAliveTimeout = this.keepAliveTimeoutMs;
    server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.host, port: this.requestedPort, backlog: 511 }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    return this.boundPort;
  }

  /** Stops listening, drops queued requests and closes every connection. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queueHead = 0;
    this.busy = 0;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  stats(): SampleServerStats {
    return {
      served: this.served,
      rejected: this.rejected,
      queued: this.queue.length - this.queueHead,
      inService: this.busy,
      maxQueued: this.maxQueued,
      openConnections: this.sockets.size,
    };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Read the whole request first: the job is "serve this request", not "serve its headers".
    req.resume();
    req.once('end', () => {
      if (!this.server) return;
      const queued = this.queue.length - this.queueHead;
      if (queued >= this.maxQueue) {
        this.rejected++;
        respond(res, 503, 'queue full\n');
        return;
      }
      this.queue.push({ res });
      this.maxQueued = Math.max(this.maxQueued, queued + 1);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.busy < this.workers && this.queueHead < this.queue.length) {
      const job = this.queue[this.queueHead]!;
      this.queueHead++;
      // Compact now and then so the array does not grow without bound under steady load.
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (job.res.destroyed) continue;
      this.busy++;
      const jitter = this.jitterMs > 0 ? (Math.random() * 2 - 1) * this.jitterMs : 0;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.busy--;
        if (!job.res.destroyed) {
          this.served++;
          respond(job.res, 200, 'ok\n');
        }
        this.dispatch();
      }, Math.max(0, this.serviceTimeMs + jitter));
      this.timers.add(timer);
    }
  }
}

function respond(res: http.ServerResponse, status: number, body: string): void {
  const payload = Buffer.from(body);
  // writeHead + end(payload) with a Content-Length goes out as one write: headers and
  // body together, so the first response byte leaves only when the work is done.
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': payload.length });
  res.end(payload);
}
