import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { SampleServer } from '../../src/demo/sample-server.js';

function get(agent: http.Agent, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.once('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `clients` keep-alive clients, each sending `perClient` requests back to back. */
async function measure(port: number, clients: number, perClient: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  try {
    const all: number[] = [];
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < perClient; i++) all.push(await get(agent, port));
      }),
    );
    return all;
  } finally {
    agent.destroy();
  }
}

test('sample server: latency grows with concurrency (1 vs 16 concurrent, 4 workers x 10 ms)', async () => {
  const server = new SampleServer({ port: 0 });
  const port = await server.start();
  try {
    assert.ok(port > 0);
    assert.equal(server.capacityRps, 400);
    const one = await measure(port, 1, 30);
    const sixteen = await measure(port, 16, 8);
    const m1 = median(one);
    const m16 = median(sixteen);
    console.log(`median latency: 1 concurrent ${m1.toFixed(1)} ms, 16 concurrent ${m16.toFixed(1)} ms`);
    // One at a time: about one service time. Sixteen over four workers: about four.
    assert.ok(m1 >= 8 && m1 < 40, `1 concurrent median ${m1} ms`);
    assert.ok(m16 > 2.5 * m1, `16 concurrent median ${m16} ms should be well above ${m1} ms`);
    assert.ok(m16 >= 30, `16 concurrent median ${m16} ms`);
    const stats = server.stats();
    assert.equal(stats.served, 30 + 16 * 8);
    assert.ok(stats.maxQueued >= 8, `max queue ${stats.maxQueued}`);
  } finally {
    await server.stop();
  }
  assert.equal(server.running, false);
});

test('sample server: the response (headers and body) leaves in one piece after the service time', async () => {
  const server = new SampleServer({ port: 0, serviceTimeMs: 30, jitterMs: 0 });
  const port = await server.start();
  const socket = net.connect({ host: '127.0.0.1', port });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const start = performance.now();
    const first = new Promise<{ chunk: string; at: number }>((resolve) => socket.once('data', (b: Buffer) => resolve({ chunk: b.toString(), at: performance.now() })));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { chunk, at } = await first;
    assert.ok(at - start >= 25, `first byte after ${at - start} ms`);
    assert.match(chunk, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(chunk, /\r\n\r\nok\n$/, 'body in the same chunk as the headers');
    assert.match(chunk, /keep-alive/i);
    // Keep-alive: the same connection serves a second request.
    const second = new Promise<string>((resolve) => socket.once('data', (b: Buffer) => resolve(b.toString())));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(await second, /^HTTP\/1\.1 200 OK/);
  } finally {
    socket.destroy();
    await server.stop();
  }
});

test('sample server: stop() closes kept-alive connections and start() works again on the same port', async () => {
  const server = new SampleServer({ port: 0 });
  const port = await server.start();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  try {
    await get(agent, port);
    await server.stop();
    await assert.rejects(get(agent, port));
    const again = new SampleServer({ port });
    assert.equal(await again.start(), port);
    await get(agent, port);
    await again.stop();
  } finally {
    agent.destroy();
    await server.stop();
  }
});
