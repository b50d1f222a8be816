import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AuthFailure } from '../../src/ingest/auth/identity.js';
import { TokenReviewAuthenticator } from '../../src/ingest/auth/token-review-auth.js';
import { apiTokenReviewer } from '../../src/kubernetes/token-review.js';
import { StandInApiServer } from '../helpers/kube-apiserver.js';
import { connectCollector, hello } from '../helpers/scaler-collector.js';
import { startTestScaler, type TestScaler } from '../helpers/scaler-server.js';

/**
 * Kubernetes collector authentication: projected ServiceAccount tokens reviewed by the
 * stand-in API server's TokenReview (the real @kubernetes/client-node posts them), checked
 * for audience, ServiceAccount and node binding, cached within bounds.
 */
const COLLECTOR_SA = { namespace: 'keda-ebpf-scaler', serviceAccount: 'keda-ebpf-collector' };

describe('TokenReview collector authentication (stand-in API server)', () => {
  const api = new StandInApiServer();
  let now = 1_000_000;
  const authenticator = (options: { cacheTtlMs?: number; maxCacheEntries?: number } = {}) =>
    new TokenReviewAuthenticator({
      review: apiTokenReviewer(api.kubeConfig(), 2000),
      audience: 'keda-ebpf-scaler',
      serviceAccount: 'keda-ebpf-scaler:keda-ebpf-collector',
      clock: () => now,
      ...options,
    });
  const refusal = async (promise: Promise<unknown>): Promise<AuthFailure> => {
    try {
      await promise;
    } catch (err) {
      assert.ok(err instanceof AuthFailure, `expected an AuthFailure, got ${String(err)}`);
      return err;
    }
    assert.fail('expected a refusal');
  };

  before(() => api.start());
  after(() => api.stop());

  it('a valid projected token gives the node it is bound to', async () => {
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, podName: 'collector-x1', nodeName: 'node-a' });
    const identity = await authenticator().authenticate({ bearerToken: token });
    assert.deepEqual(identity, { method: 'kubernetes', principal: 'system:serviceaccount:keda-ebpf-scaler:keda-ebpf-collector', nodeName: 'node-a' });
    const review = api.requests.findLast((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews');
    assert.equal(review?.method, 'POST');
    assert.equal(review?.status, 201);
  });

  it('an expired token is refused (UNAUTHENTICATED)', async () => {
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-a', podName: 'p', expiresAtMs: Date.now() - 1000 });
    const err = await refusal(authenticator().authenticate({ bearerToken: token }));
    assert.equal(err.reason, 'token-rejected');
    assert.equal(err.code, 'COLLECTOR_UNAUTHENTICATED');
  });

  it('a token for another audience (e.g. the API server\'s own) is refused (UNAUTHENTICATED)', async () => {
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-a', podName: 'p', audiences: ['https://kubernetes.default.svc.cluster.local'] });
    const err = await refusal(authenticator().authenticate({ bearerToken: token }));
    assert.equal(err.reason, 'wrong-audience');
    assert.equal(err.code, 'COLLECTOR_UNAUTHENTICATED');
  });

  it('a token of another ServiceAccount (the scaler\'s, a workload\'s) is refused (PERMISSION_DENIED)', async () => {
    const token = api.issueServiceAccountToken({ namespace: 'keda-ebpf-scaler', serviceAccount: 'keda-ebpf-scaler', nodeName: 'node-a', podName: 'p' });
    const err = await refusal(authenticator().authenticate({ bearerToken: token }));
    assert.equal(err.reason, 'wrong-service-account');
    assert.equal(err.code, 'COLLECTOR_FORBIDDEN');
  });

  it('a collector token not bound to a node is refused (PERMISSION_DENIED)', async () => {
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA });
    const err = await refusal(authenticator().authenticate({ bearerToken: token }));
    assert.equal(err.reason, 'no-node-binding');
  });

  it('an unknown token and no token are refused', async () => {
    assert.equal((await refusal(authenticator().authenticate({ bearerToken: 'eyJhbGciOiJSUzI1NiJ9.e30.forged' }))).reason, 'token-rejected');
    assert.equal((await refusal(authenticator().authenticate({}))).reason, 'missing-credentials');
  });

  it('verdicts are cached (bounded in entries and time); concurrent connects share one review', async () => {
    const auth = authenticator({ cacheTtlMs: 60_000, maxCacheEntries: 3 });
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-b', podName: 'p' });
    const before = api.tokenReviews;
    await Promise.all([auth.authenticate({ bearerToken: token }), auth.authenticate({ bearerToken: token }), auth.authenticate({ bearerToken: token })]);
    await auth.authenticate({ bearerToken: token });
    assert.equal(api.tokenReviews - before, 1, 'one review for four connects');
    now += 60_001;
    await auth.authenticate({ bearerToken: token });
    assert.equal(api.tokenReviews - before, 2, 'reviewed again after the TTL');
    for (let i = 0; i < 10; i++) await auth.authenticate({ bearerToken: api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: `n${i}`, podName: 'p' }) });
    assert.ok(auth.cacheSize <= 3, `cache holds ${auth.cacheSize} entries, bound 3`);
  });

  it('a cached verdict never outlives the token\'s own expiry', async () => {
    const auth = authenticator({ cacheTtlMs: 3_600_000 });
    now = Date.now();
    const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-c', podName: 'p', expiresAtMs: now + 5000 });
    await auth.authenticate({ bearerToken: token });
    now += 6000;
    // The stand-in's clock (Date.now) has not reached expiry, so the review passes again; what
    // counts is that a second review happened instead of a cache hit past exp.
    const reviews = api.tokenReviews;
    await auth.authenticate({ bearerToken: token }).catch(() => undefined);
    assert.equal(api.tokenReviews, reviews + 1);
  });

  it('RBAC without create on tokenreviews: the peer gets UNAVAILABLE (retryable), nothing cached', async () => {
    api.deny('tokenreviews');
    try {
      const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-a', podName: 'p' });
      const err = await refusal(authenticator().authenticate({ bearerToken: token }));
      assert.equal(err.reason, 'review-unavailable');
      assert.equal(err.code, 'KUBERNETES_UNAVAILABLE');
      assert.match(String((err.cause as Error).message), /verbs: \["create"\]/);
    } finally {
      api.allow('tokenreviews');
    }
  });

  describe('over gRPC: the ingest port with TokenReview', () => {
    let scaler: TestScaler;
    before(async () => {
      scaler = await startTestScaler({ ingest: { listen: '127.0.0.1:0', authenticator: authenticator() } });
    });
    after(() => scaler.close());

    it('a collector with its projected token connects; its node comes from the token', async () => {
      const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-a', podName: 'collector-a' });
      const c = await connectCollector(scaler.ingestAddress, hello({ node_name: '', collector_id: 'k-1' }), { token });
      await c.waitForWatchSet(() => true);
      c.close();
    });

    it('a Hello naming another node than the token\'s is PERMISSION_DENIED; no token is UNAUTHENTICATED; neither sees a watch set', async () => {
      const token = api.issueServiceAccountToken({ ...COLLECTOR_SA, nodeName: 'node-a', podName: 'collector-a' });
      const mismatch = await connectCollector(scaler.ingestAddress, hello({ node_name: 'node-b', collector_id: 'k-2' }), { token }).then(
        () => assert.fail('connected'),
        (err: Error) => err.message,
      );
      assert.match(mismatch, new RegExp(`^stream ended before Welcome: ${grpc.status.PERMISSION_DENIED} `));
      assert.match(mismatch, /may not speak for node "node-b"/);
      const none = await connectCollector(scaler.ingestAddress, hello({ collector_id: 'k-3' }), { token: null }).then(
        () => assert.fail('connected'),
        (err: Error) => err.message,
      );
      assert.match(none, new RegExp(`^stream ended before Welcome: ${grpc.status.UNAUTHENTICATED} `));
      const failures = scaler.server.stats().ingest.authFailures;
      assert.equal(failures['node-mismatch'], 1);
      assert.equal(failures['missing-credentials'], 1);
    });
  });
});
