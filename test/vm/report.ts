import { z } from 'zod';
import { CONN_STATES, RUNGS } from '../../src/collector/hook-ladder.js';

/**
 * What the guest check prints (one `vm-check <json>` line per rung) and what the host side
 * of the VM matrix reads back: the single schema both sides agree on.
 */

export const CHECK_LINE_PREFIX = 'vm-check ';
export const PROBE_LINE_PREFIX = 'vm-probe ';

export const rungSchema = z.enum(RUNGS);
/** Where the attached variant keeps per-connection state (socket storage or a hash map). */
const connStateSchema = z.enum(CONN_STATES);

export const checkResultSchema = z.discriminatedUnion('result', [
  z.object({
    rung: rungSchema,
    /** Loaded and attached; every check below passed. */
    connState: connStateSchema,
    result: z.literal('ok'),
    requests: z.object({ counted: z.number(), sent: z.number() }),
    /** Server truth is [before sendall(), after sendall()]; errors are distances outside it. */
    p50: z.object({ kernelUs: z.number(), serverLowUs: z.number(), serverHighUs: z.number(), errorPct: z.number() }),
    meanErrorPct: z.number(),
    keepalive: z.object({ counted: z.number(), sent: z.number() }),
    wakeupMs: z.number(),
    /** Listen-queue overflow drops counted vs nstat ListenOverflows; null where the program did not load (logged). */
    listenOverflow: z.object({ counted: z.number(), nstat: z.number() }).nullable(),
    /** Protocol framing (bpf/protocol_framing.bpf.c) attached beside the rung; absent from older guests. */
    framing: z.boolean().optional(),
    /**
     * HTTP/2 timed by that framing: requests on one connection, `streams` at most in flight at
     * the server, and the kernel p50 against the bracket [server's own timing, client's]
     * (test/vm/h2-workload.ts); null where framing is not attached; absent from older guests.
     */
    h2: z
      .object({
        counted: z.number(),
        sent: z.number(),
        /** The most requests the server held at once (the client keeps --h2-streams in flight). */
        streams: z.number(),
        /** The most streams the kernel's in-flight gauge showed at once (sampled while they ran). */
        maxInFlight: z.number(),
        p50: z.object({ kernelUs: z.number(), serverUs: z.number(), clientUs: z.number(), errorPct: z.number() }),
      })
      .nullable()
      .optional(),
    /**
     * HTTP/1 uploads with `Expect: 100-continue` against nginx: requests counted, interim
     * responses recognised, and the kernel p50 against the bracket [nginx's $request_time,
     * client's]; absent from older guests.
     */
    expectContinue: z
      .object({
        counted: z.number(),
        sent: z.number(),
        interim: z.number(),
        p50: z.object({ kernelUs: z.number(), serverUs: z.number(), clientUs: z.number(), errorPct: z.number() }),
      })
      .optional(),
    /**
     * holdAtZero: connects held at zero, released on ready, the listener seen and how fast
     * its listen() woke the collector; null where its programs did not attach; absent from
     * older guests.
     */
    hold: z.object({ held: z.number(), released: z.number(), listeners: z.number(), wakeupMs: z.number() }).nullable().optional(),
    /** Half-closing clients: requests counted (of `sent` each) with the FIN in the request's segment and after it; absent from older guests. */
    halfClose: z.object({ sent: z.number(), oneSegment: z.number(), finAfter: z.number(), unreadBodyAborted: z.number().optional() }).optional(),
    seconds: z.number(),
  }),
  z.object({
    rung: rungSchema,
    /** Loaded and attached, but a check failed: `problems` says which and by how much. */
    connState: connStateSchema,
    result: z.literal('failed'),
    problems: z.array(z.string()),
    seconds: z.number(),
  }),
  z.object({
    rung: rungSchema,
    /** The loader refused the rung on this kernel; `reason` is its sentence. */
    result: z.literal('refused'),
    reason: z.string(),
    seconds: z.number(),
  }),
]);
export type CheckResult = z.infer<typeof checkResultSchema>;

/** `node dist/cli.js probe` as seen in the guest: its exit status and the fields we report. */
export const probeLineSchema = z.object({
  exitCode: z.number(),
  report: z
    .object({
      ok: z.boolean(),
      kernelRelease: z.string().nullable(),
      rung: z.string().nullable(),
      error: z.string().nullable(),
    })
    .nullable(),
  seconds: z.number(),
});
export type ProbeLine = z.infer<typeof probeLineSchema>;

/** test/vm/expected.json: per kernel series, what probe picks and each rung's verdict. */
export const expectationsSchema = z.record(
  z.string().regex(/^\d+\.\d+$/),
  z.object({
    /** The rung probe must pick by itself, or "refused" when the collector cannot start. */
    probe: z.union([rungSchema, z.literal('refused')]),
    rungs: z.record(rungSchema, z.enum(['ok', 'refused'])),
    /** Whether the listen-queue overflow program loads and counts what nstat counts ("ok") on this kernel, for every rung that runs. */
    listenOverflow: z.enum(['ok', 'unavailable']),
    /**
     * Per rung that runs: whether protocol framing attaches and times HTTP/2 ("timed") or is
     * absent; a rung left out is not compared. Absent from older expectation files.
     */
    framing: z.partialRecord(rungSchema, z.enum(['timed', 'absent'])).optional(),
    /** Whether the holdAtZero programs attach and hold ("ok") for every rung that runs; absent from older expectation files. */
    hold: z.enum(['ok', 'unavailable']).optional(),
  }),
);
export type Expectations = z.infer<typeof expectationsSchema>;
