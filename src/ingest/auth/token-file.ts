import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { AuthFailure, type CollectorAuthenticator, type CollectorIdentity, type PeerCredentials } from './identity.js';

/**
 * Shared-secret collector authentication outside Kubernetes (--ingest-token-file). One entry
 * per line: `TOKEN` (any collector holding it may name its node in Hello) or
 * `NODE_NAME TOKEN` (the token speaks for that node only). Blank lines and `#` comments are
 * ignored. The file is read again when it changes, so tokens rotate without a restart.
 */

/** Shorter secrets are guessable; 16 characters of a random token are ~96 bits. */
export const MIN_TOKEN_LENGTH = 16;

const lineSchema = z
  .string()
  .regex(/^(?:(?<node>[^\s#]+)\s+)?(?<token>[\x21-\x7e]+)$/, 'expected "TOKEN" or "NODE_NAME TOKEN"')
  .transform((line) => {
    const parts = line.split(/\s+/);
    return parts.length === 2 ? { nodeName: parts[0]!, token: parts[1]! } : { token: parts[0]! };
  })
  .refine((e) => e.token.length >= MIN_TOKEN_LENGTH, `a token must be at least ${MIN_TOKEN_LENGTH} characters`);

interface Entry {
  readonly digest: Buffer;
  readonly nodeName?: string;
  readonly index: number;
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Parses the file's text; throws Error naming the line and the accepted form. */
export function parseTokenFile(text: string, path: string): Entry[] {
  const entries: Entry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parsed = lineSchema.safeParse(line);
    if (!parsed.success) throw new Error(`--ingest-token-file ${path} line ${i + 1}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    entries.push({ digest: digest(parsed.data.token), index: entries.length + 1, ...(parsed.data.nodeName !== undefined ? { nodeName: parsed.data.nodeName } : {}) });
  });
  if (entries.length === 0) throw new Error(`--ingest-token-file ${path} holds no token; put one token per line (or "NODE_NAME TOKEN")`);
  return entries;
}

export class TokenFileAuthenticator implements CollectorAuthenticator {
  readonly method = 'token' as const;
  private entries: Entry[];
  private loadedMtimeMs: number;

  /** Reads the file at once: a missing or malformed file is a start-up error, not a later surprise. */
  constructor(private readonly path: string) {
    this.loadedMtimeMs = this.mtime();
    this.entries = this.read();
  }

  authenticate(peer: PeerCredentials): Promise<CollectorIdentity> {
    this.reloadIfChanged();
    if (peer.bearerToken === undefined) {
      return Promise.reject(new AuthFailure('missing-credentials', 'collector credentials required: send "authorization: Bearer TOKEN" (collector --token-file)'));
    }
    const presented = digest(peer.bearerToken);
    // Every entry is compared, in constant time each, so timing tells nothing about which matched.
    let match: Entry | undefined;
    for (const entry of this.entries) if (timingSafeEqual(entry.digest, presented) && match === undefined) match = entry;
    if (!match) return Promise.reject(new AuthFailure('token-rejected', 'collector token not accepted'));
    return Promise.resolve({ method: 'token', principal: `token:${match.index}`, ...(match.nodeName !== undefined ? { nodeName: match.nodeName } : {}) });
  }

  private mtime(): number {
    try {
      return statSync(this.path).mtimeMs;
    } catch (err) {
      throw new Error(`--ingest-token-file ${this.path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); give a readable file with one token per line`, { cause: err });
    }
  }

  private read(): Entry[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new Error(`--ingest-token-file ${this.path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)}); give a readable file with one token per line`, { cause: err });
    }
    return parseTokenFile(text, this.path);
  }

  /** A rotated file takes effect on the next connect; a broken rewrite keeps the previous tokens. */
  private reloadIfChanged(): void {
    try {
      const mtime = this.mtime();
      if (mtime === this.loadedMtimeMs) return;
      this.entries = this.read();
      this.loadedMtimeMs = mtime;
    } catch {
      // Keep serving with the tokens already loaded; the next connect tries again.
    }
  }
}
