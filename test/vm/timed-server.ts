import { startLineServer } from './line-server.js';

/**
 * The ground truth of the VM matrix's timing check: a keep-alive HTTP-ish server on
 * loopback with a fixed service time that logs, per request, what it measured itself:
 * from the kernel's receive timestamp of the request (SO_TIMESTAMPNS: the request's first
 * bytes in the kernel) to just before and just after its sendall(). The collector's send
 * hook fires inside sendall() (fentry/kprobe at tcp_sendmsg_locked's entry, tp_btf's
 * sock_send_length on the way out), and on loopback sendall() also runs the client's
 * receive path, which takes about 1 ms under TCG (5 % of 20 ms): so the truth is a bracket,
 * not a point. One line per request: "<before> <after>" in microseconds.
 */

const SERVER = String.raw`
import socket, sys, time, threading, struct
host, port, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
SO_TIMESTAMPNS = 35
s = socket.socket(socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# Set on the listener: accepted sockets inherit it, and receive timestamps are on before
# the first request arrives.
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
s.bind((host, port)); s.listen(128)
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
out = threading.Lock()
def serve(c):
    try:
        while True:
            d, anc, _, _ = c.recvmsg(65536, 256)
            if not d: break
            rx = None
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", data[:16]); rx = sec * 1000000000 + nsec
            if rx is None: rx = time.time_ns()
            time.sleep(delay)
            before = time.time_ns()
            c.sendall(RESP)
            after = time.time_ns()
            with out:
                sys.stdout.write("%d %d\n" % ((before - rx) // 1000, (after - rx) // 1000)); sys.stdout.flush()
    finally:
        c.close()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

export interface ServerLatency {
  /** Request's kernel receive timestamp -> just before sendall(), microseconds. */
  readonly beforeSendUs: number;
  /** Request's kernel receive timestamp -> just after sendall() returned, microseconds. */
  readonly afterSendUs: number;
}

export interface TimedServer {
  /** Every request answered so far. */
  readonly latencies: ServerLatency[];
  stop(): void;
}

export async function startTimedServer(host: string, port: number, serviceMs: number): Promise<TimedServer> {
  const latencies: ServerLatency[] = [];
  const server = await startLineServer({
    what: `timed server ${host}:${port}`,
    command: 'python3',
    fileName: 'timed-server.py',
    script: SERVER,
    args: [host, String(port), String(serviceMs / 1000)],
    onLine: (line) => {
      const [beforeSendUs, afterSendUs] = line.split(' ').map(Number);
      latencies.push({ beforeSendUs: beforeSendUs!, afterSendUs: afterSendUs! });
    },
  });
  return { latencies, stop: () => server.stop() };
}
