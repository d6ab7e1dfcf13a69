/**
 * `npm run demo -- --attack`: after the normal demo, a ransomware attack on the protected bucket
 * through the S3 API, and what Strongbox does about it.
 *
 * 1. Records the tree as it is before the attack (every object's SHA-256, read back from S3).
 * 2. Attacks: overwrites 30% of the objects in place with random bytes of the same size (what
 *    re-encryption leaves), deletes 10%, and sets a lifecycle rule expiring every object after a day.
 * 3. Waits for the detector (in capture) to quarantine the plan, and reports how many of the
 *    attack's changes had been captured when it did.
 * 4. Takes snapshots of the attacked bucket until retention alone would forget the last clean
 *    snapshot, and shows that prune kept it (the quarantine's legal hold) and deferred GC.
 * 5. Asks `clean-point` where to restore from, restores that snapshot from the isolated vault and
 *    compares every object with the tree before the attack.
 */

import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { decideRetention } from '#domain/forget.ts';
import { cleanPoints } from '#domain/quarantine.ts';
import type { QuarantineRecord, SnapshotRecord } from '#domain/records.ts';
import { restoreSnapshot } from '#domain/restore/restore.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import type { Container } from '#runtime/container.ts';
import { formatForgetTable } from '../cli/format/retention.ts';
import { formatSeconds } from '../format.ts';
import { sha256 } from './corpus.ts';
import { waitUntil } from './wait.ts';

/** Share of the objects the attack overwrites with random bytes. */
export const ATTACK_OVERWRITE_SHARE = 0.3;
/** Share of the objects the attack deletes (disjoint from the overwritten ones). */
export const ATTACK_DELETE_SHARE = 0.1;
const CLEAN_RESTORE_BUCKET = 'strongbox-demo-clean';

/** What the attack demo needs from the demo that ran before it. */
export interface AttackContext {
  container: Container;
  s3: S3Client;
  sourceBucket: string;
  planId: string;
  log: (line: string) => void;
  /** Follow a snapshot's job (snapshot → copy → verify → prune) until it ends. */
  follow: (snapshotId: string) => Promise<{ status: string; error?: string }>;
  /** Where the clean snapshot is restored from. */
  restoreFrom: { label: string; region?: string };
}

/** Every object of `bucket` and the SHA-256 of its bytes, read back through S3. */
export async function treeOf(s3: S3Client, bucket: string, concurrency = 32): Promise<Map<string, string>> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket })) {
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
  }
  const tree = new Map<string, string>();
  const limit = pLimit(concurrency);
  await Promise.all(
    keys.map((key) =>
      limit(async () => {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        tree.set(
          key,
          sha256(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()),
        );
      }),
    ),
  );
  return tree;
}

/**
 * The attack's victims, chosen deterministically from the sorted keys: every key whose position
 * modulo 10 is below 3 is overwritten (30%), position 3 is deleted (10%).
 */
export function pickVictims(keys: readonly string[]): { overwritten: string[]; deleted: string[] } {
  const sorted = [...keys].sort();
  const overwriteEvery = Math.round(ATTACK_OVERWRITE_SHARE * 10);
  const deleteEvery = Math.round(ATTACK_DELETE_SHARE * 10);
  return {
    overwritten: sorted.filter((_, i) => i % 10 < overwriteEvery),
    deleted: sorted.filter((_, i) => i % 10 >= overwriteEvery && i % 10 < overwriteEvery + deleteEvery),
  };
}

/**
 * Run the attack and Strongbox's answer to it.
 * @returns the problems found (empty when the clean point restored byte-identically).
 */
export async function runAttackDemo(ctx: AttackContext): Promise<string[]> {
  const { container: c, s3, sourceBucket, planId, log } = ctx;
  const problems: string[] = [];

  log(
    `\n9. A quiet moment: one more snapshot (the last before the attack), and the tree of s3://${sourceBucket}/ as it is…`,
  );
  // Past the plan's settle window, so the snapshot holds every change made so far.
  await new Promise((r) => setTimeout(r, 2000));
  const { snapshotId: lastClean } = await startSnapshotNow(c.pipeline, planId);
  const lastJob = await ctx.follow(lastClean);
  if (lastJob.status !== 'SUCCEEDED') {
    return [`the snapshot before the attack: ${lastJob.status} ${lastJob.error ?? ''}`];
  }
  const before = await treeOf(s3, sourceBucket);
  log(`   snapshot ${lastClean} committed and copied; the bucket holds ${before.size} objects`);

  const { overwritten, deleted } = pickVictims([...before.keys()]);
  log(
    `\n10. ATTACK through the S3 API: overwriting ${overwritten.length} objects (${ATTACK_OVERWRITE_SHARE * 100}%) in place with random bytes, deleting ${deleted.length} (${ATTACK_DELETE_SHARE * 100}%), and setting a lifecycle rule that expires every object after 1 day…`,
  );
  const attackStarted = new Date();
  const limit = pLimit(32);
  await s3.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: sourceBucket,
      LifecycleConfiguration: {
        Rules: [
          { ID: 'expire-everything', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } },
        ],
      },
    }),
  );
  await Promise.all([
    ...overwritten.map((key) =>
      limit(async () => {
        const out = await s3.send(new GetObjectCommand({ Bucket: sourceBucket, Key: key }));
        const size = (
          await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()
        ).length;
        await s3.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: randomBytes(size) }));
      }),
    ),
    ...deleted.map((key) =>
      limit(() => s3.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: key }))),
    ),
  ]);
  const attackSeconds = (Date.now() - attackStarted.getTime()) / 1000;
  log(`    done in ${formatSeconds(attackSeconds)}`);

  log('\n11. Waiting for the detector (it runs in capture, on every captured change)…');
  const quarantine = await waitUntil<QuarantineRecord>(
    async () => (await c.pipeline.catalog.getQuarantine(planId)) ?? undefined,
    180_000,
  ).catch(() => undefined);
  if (!quarantine) {
    problems.push('the detector did not quarantine the plan within 180 s of the attack');
    return problems;
  }
  const capturedBefore = (
    await c.pipeline.catalog.listJournal(planId, { capturedAfter: attackStarted.toISOString() })
  ).filter((e) => Date.parse(e.capturedAt) <= Date.parse(quarantine.at)).length;
  log(
    `    QUARANTINED by ${quarantine.by} at ${quarantine.at}: ${quarantine.reason}\n` +
      `    the attack began ${attackStarted.toISOString()}; ${capturedBefore} of its ${overwritten.length + deleted.length} changes had been captured when the detector fired\n` +
      `    holding snapshot ${quarantine.heldSnapshotId ?? '(none)'}, the newest before ${quarantine.since}`,
  );
  if (quarantine.heldSnapshotId !== lastClean) {
    problems.push(
      `the quarantine holds ${quarantine.heldSnapshotId ?? 'no snapshot'}, not ${lastClean}, the last before the attack`,
    );
  }

  log('    waiting for capture to journal every change of the attack…');
  await waitUntil(async () => {
    const n = (await c.pipeline.catalog.listJournal(planId, { capturedAfter: attackStarted.toISOString() }))
      .length;
    return n >= overwritten.length + deleted.length ? n : undefined;
  }, 300_000);

  log('\n12. Retention and GC keep running: three snapshots of the attacked bucket, each followed by prune…');
  let lastAttackedJob = '';
  for (let i = 1; i <= 3; i += 1) {
    const { snapshotId } = await startSnapshotNow(c.pipeline, planId);
    const job = await ctx.follow(snapshotId);
    if (job.status !== 'SUCCEEDED')
      problems.push(`snapshot ${snapshotId} after the attack: ${job.status} ${job.error ?? ''}`);
    lastAttackedJob = `${planId}/${snapshotId}`;
  }
  const regions = 1 + c.pipeline.vaults.copies.size;
  const gcRuns = await waitUntil(async () => {
    const tasks = (await c.pipeline.catalog.listTasks(lastAttackedJob)).filter(
      (t) => t.taskId.startsWith('prune:') && t.status !== 'RUNNING',
    );
    return tasks.length >= regions ? tasks : undefined;
  }, 120_000);
  for (const t of gcRuns) {
    const deferred = t.result?.deferred;
    log(
      `    GC ${t.taskId.slice('prune:'.length)}: ${typeof deferred === 'string' ? `deferred (${deferred})` : 'RAN'}`,
    );
    if (typeof deferred !== 'string' || !deferred.includes('quarantine')) {
      problems.push(`GC in ${t.taskId} ran while the plan was in quarantine`);
    }
  }
  const snapshots = await c.pipeline.catalog.listSnapshots(planId);
  const plan = await c.pipeline.catalog.getPlan(planId);
  if (plan) {
    log(
      '    what retention would decide (keepLast 3, keepDaily 7) — forget is paused while the plan is in quarantine:',
    );
    log(formatForgetTable(decideRetention(snapshots, plan, new Date())));
  }
  const held = snapshots.find((s) => s.snapshotId === quarantine.heldSnapshotId) as
    | SnapshotRecord
    | undefined;
  if (!held || held.status !== 'COMMITTED') {
    problems.push(`the held snapshot ${quarantine.heldSnapshotId} is ${held?.status ?? 'gone'}`);
    return problems;
  }
  log(`    held snapshot ${held.snapshotId}: ${held.status}, legal hold '${held.legalHold?.reason ?? ''}'`);

  log(`\n13. 'strongbox clean-point ${planId}': where to restore from…`);
  const points = await cleanPoints(c.pipeline, planId);
  log(
    `    newest snapshot before the attack: ${points.snapshot?.snapshotId ?? '(none)'} (${points.snapshot?.time ?? '-'}); ${points.touched.length} prefix(es) touched since ${points.since}`,
  );
  if (points.snapshot?.snapshotId !== quarantine.heldSnapshotId) {
    problems.push(
      `clean-point names ${points.snapshot?.snapshotId}, the quarantine holds ${quarantine.heldSnapshotId}`,
    );
  }

  log(
    `\n14. Restoring the clean point (snapshot ${held.snapshotId}) from ${ctx.restoreFrom.label} into s3://${CLEAN_RESTORE_BUCKET}/ and comparing it with the tree before the attack…`,
  );
  await s3.send(new CreateBucketCommand({ Bucket: CLEAN_RESTORE_BUCKET }));
  const report = await restoreSnapshot(c.pipeline, {
    plan: planId,
    snapshot: held.snapshotId,
    targetBucket: CLEAN_RESTORE_BUCKET,
    ...(ctx.restoreFrom.region ? { region: ctx.restoreFrom.region } : {}),
  });
  const after = await treeOf(s3, CLEAN_RESTORE_BUCKET);
  let identical = 0;
  const differ: string[] = [];
  for (const [key, hash] of before) {
    if (after.get(key) === hash) identical += 1;
    else differ.push(key);
  }
  const extra = [...after.keys()].filter((k) => !before.has(k));
  if (differ.length > 0) {
    problems.push(
      `${differ.length} object(s) of the clean point differ or are missing, e.g. ${differ.slice(0, 3).join(', ')}`,
    );
  }
  if (extra.length > 0)
    problems.push(`${extra.length} object(s) restored that were not there before the attack`);
  if (problems.length === 0) {
    log(
      `Restored ${identical} of ${before.size} objects from the clean point (snapshot ${held.snapshotId}, ${ctx.restoreFrom.label}, ${formatSeconds(report.seconds)}): all byte-identical to the tree before the attack.`,
    );
  }
  return problems;
}
