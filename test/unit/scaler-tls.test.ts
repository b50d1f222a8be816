import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../../src/log.js';
import { loadExternalScaler } from '../../src/proto/load.js';
import { serverCredentials } from '../../src/server/credentials.js';
import { createScalerServer, type ScalerServer } from '../../src/server/server.js';
import { ref, unaryCall } from '../helpers/scaler-server.js';

/** TLS and mTLS as KEDA dials them (CA, and a client certificate for mTLS), with certificates made by openssl. */
describe('scaler TLS / mTLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scaler-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let server: ScalerServer;
  let port = 0;

  before(async () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=test-ca');
    writeFileSync(file('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    for (const who of ['server', 'client']) {
      openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`), '-subj', `/CN=${who}`);
      openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${who}.pem`), '-days', '1', '-extfile', file('san.ext'));
    }
    server = createScalerServer({
      listen: '127.0.0.1:0',
      log: createLogger('silent'),
      credentials: serverCredentials({ certFile: file('server.pem'), keyFile: file('server.key'), clientCaFile: file('ca.pem') }),
    });
    port = (await server.start()).port;
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const client = (withCert: boolean) => {
    const { ExternalScaler } = loadExternalScaler().externalscaler;
    const creds = withCert
      ? grpc.credentials.createSsl(readFileSync(file('ca.pem')), readFileSync(file('client.key')), readFileSync(file('client.pem')))
      : grpc.credentials.createSsl(readFileSync(file('ca.pem')));
    return new ExternalScaler(`127.0.0.1:${port}`, creds);
  };

  it('serves a client presenting a certificate signed by the client CA', async () => {
    const c = client(true);
    const res = await unaryCall<{ result: boolean }>((cb) => c.IsActive(ref({ port: '8080', targetValue: '1' }), cb));
    assert.equal(res.result, false);
    c.close();
  });

  it('refuses a client without a certificate', async () => {
    const c = client(false);
    await assert.rejects(unaryCall((cb) => c.IsActive(ref({ port: '8080', targetValue: '1' }), { deadline: Date.now() + 3000 }, cb)));
    c.close();
  });

  it('refuses half a TLS configuration', () => {
    assert.throws(() => serverCredentials({ certFile: file('server.pem') }), /both --tls-cert and --tls-key/);
    assert.throws(() => serverCredentials({ clientCaFile: file('ca.pem') }), /needs --tls-cert/);
  });
});
