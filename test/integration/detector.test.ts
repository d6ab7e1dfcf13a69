/**
 * The ransomware detector on the embedded stack: S3 writes through the S3 API become S3 event records
 * (fauxqs), the dispatcher invokes serverless.yml's capture function, capture counts each change in
 * DynamoDB Local, and the detector it runs after each batch quarantines the attacked plan. A bulk
 * upload of new incompressible files under another plan trips nothing. (The EventBridge event is
 * only logged here: the stack has no EventBridge; the template test asserts the grant.)
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlans } from '#domain/apply-plans.ts';
import { type LocalStack, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { waitFor } from '../support/wait.ts';

let stack: LocalStack;
let c: Container;
let source: string;

/** The guarded tree: 200 small text files (they compress); the attack overwrites 30% and deletes 10%. */
const TREE = Array.from({ length: 200 }, (_, i) => `guarded/docs/${String(i).padStart(3, '0')}.txt`);
const textOf = (key: string) => `${key}\n${'quarterly figures, all in order. '.repeat(60)}`;

beforeAll(async () => {
  stack = await startLocalStack({ logLevel: 'SILENT' });
  c = stack.container('capture');
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  const planOf = (id: string) => ({
    id,
    source: { bucket: source, prefix: `${id}/` },
    schedule: 'rate(1 day)',
    retention: { keepLast: 1 },
  });
  await applyPlans(c.pipeline, { plans: [planOf('guarded'), planOf('bulk')] }, stack.copyRegions);
});

afterAll(async () => {
  await stack?.stop();
});

const limit = pLimit(16);
const put = (key: string, body: string | Uint8Array) =>
  stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
const remove = (key: string) => stack.s3().send(new DeleteObjectCommand({ Bucket: source, Key: key }));

/** Wait until the plan's journal holds `n` entries. */
async function journaledCount(planId: string, n: number): Promise<number> {
  return waitFor(
    `${n} journal entries of ${planId}`,
    async () => {
      const count = (await c.pipeline.catalog.listJournal(planId)).length;
      return count >= n ? count : undefined;
    },
    120_000,
    500,
  );
}

describe('the detector on the embedded stack', () => {
  it('quarantines a plan whose tree is 30% overwritten with random bytes and 10% deleted, and not one that takes a bulk upload of new random files', async () => {
    // Prepare: the guarded tree, captured
    await Promise.all(TREE.map((key) => limit(() => put(key, textOf(key)))));
    await journaledCount('guarded', TREE.length);

    // A bulk upload: 300 new 4 KiB random files (as incompressible as JPEG or zip) in seconds.
    const bulk = Array.from({ length: 300 }, (_, i) => `bulk/photos/${i}.jpg`);
    await Promise.all(bulk.map((key) => limit(() => put(key, randomBytes(4096)))));
    await journaledCount('bulk', bulk.length);
    expect(await c.pipeline.catalog.listFindings('bulk')).toEqual([]);
    expect(await c.pipeline.catalog.getQuarantine('bulk')).toBeUndefined();
    expect(await c.pipeline.catalog.getQuarantine('guarded')).toBeUndefined();

    // Act: the attack, through the S3 API: 60 overwrites with random bytes, 20 deletions.
    const attackStarted = new Date();
    const overwritten = TREE.filter((_, i) => i % 10 < 3);
    const deleted = TREE.filter((_, i) => i % 10 === 5);
    await Promise.all([
      ...overwritten.map((key) => limit(() => put(key, randomBytes(4096)))),
      ...deleted.map((key) => limit(() => remove(key))),
    ]);

    // Assess: quarantined by the detector, from a minute before the minute capture first counted it.
    const q = await waitFor('the detector to quarantine guarded', () =>
      c.pipeline.catalog.getQuarantine('guarded'),
    );
    expect(q.by).toBe('detector');
    expect(q.reason).toMatch(/^detector: encrypted overwrites \d+ in 5 min/);
    expect(Date.parse(q.since)).toBeLessThanOrEqual(attackStarted.getTime());
    expect(attackStarted.getTime() - Date.parse(q.since)).toBeLessThan(3 * 60_000);
    const findings = await c.pipeline.catalog.listFindings('guarded');
    expect(findings.map((f) => f.kind)).toEqual(['encryptedOverwrites']);
    // Every change of the attack is captured and counted: the incompressible overwrites are all 60.
    await journaledCount('guarded', TREE.length + overwritten.length + deleted.length);
    const minutes = await c.pipeline.catalog.listChangeCounts('guarded', {
      from: attackStarted.toISOString().slice(0, 16),
      to: new Date().toISOString().slice(0, 16),
    });
    // The plan's own counts (each change is counted for its prefix too, in items with `prefix`).
    const total = (field: 'incompressibleOverwrites' | 'removals' | 'overwrites') =>
      minutes.filter((m) => m.prefix === undefined).reduce((sum, m) => sum + (m[field] ?? 0), 0);
    expect([total('overwrites'), total('incompressibleOverwrites'), total('removals')]).toEqual([60, 60, 20]);
    // The bulk plan still has no finding.
    expect(await c.pipeline.catalog.listFindings('bulk')).toEqual([]);
  }, 300_000);
});
