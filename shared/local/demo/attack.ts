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
import { anomalyLines, CAPTURE_LAG_MARGIN_MS } from '#domain/detector/run.ts';
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
  /**
   * Where the clean snapshot is restored from, and with what: `container` (default: the demo's) is
   * the isolated vault's break-glass one, holding its escrow key and none of the stack's own keys.
   */
  restoreFrom: { label: string; region?: string; container?: Container };
}

/** The bytes of a GetObject body. */
const bytesOf = async (body: unknown): Promise<Uint8Array> =>
  (body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();

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
        tree.set(key, sha256(await bytesOf(out.Body)));
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

/** Step 9: one more snapshot, the tree as it is, and the wait until the attack may begin. */
async function quietMoment(
  ctx: AttackContext,
): Promise<{ lastClean: string; before: Map<string, string> } | string> {
  const { container: c, s3, sourceBucket, planId, log } = ctx;
  log(
    `\n9. A quiet moment: one more snapshot (the last before the attack), and the tree of s3://${sourceBucket}/ as it is…`,
  );
  // Past the plan's settle window, so the snapshot holds every change made so far.
  await new Promise((r) => setTimeout(r, 2000));
  const { snapshotId: lastClean } = await startSnapshotNow(c.pipeline, planId);
  const job = await ctx.follow(lastClean);
  if (job.status !== 'SUCCEEDED') return `the snapshot before the attack: ${job.status} ${job.error ?? ''}`;
  const before = await treeOf(s3, sourceBucket);
  log(`   snapshot ${lastClean} committed and copied; the bucket holds ${before.size} objects`);
  // The detector counts per minute and dates an attack from a minute before its first minute
  // (capture's lag, CAPTURE_LAG_MARGIN_MS): begin two minutes after the last clean snapshot's, so
  // that it is the newest snapshot before the attack, as it would be for an attack in real life.
  const cleanTime = Date.parse((await c.pipeline.catalog.getSnapshot(planId, lastClean))?.time ?? '');
  const attackAt = (Math.floor(cleanTime / 60_000) + 1) * 60_000 + CAPTURE_LAG_MARGIN_MS;
  if (Date.now() < attackAt) {
    log(
      `   (the attack begins at ${new Date(attackAt).toISOString()}: the detector's resolution is a minute)`,
    );
    await new Promise((r) => setTimeout(r, attackAt - Date.now() + 100));
  }
  return { lastClean, before };
}

/** Step 10: the attack itself, through the S3 API. */
async function attack(
  ctx: AttackContext,
  keys: readonly string[],
): Promise<{ started: Date; changes: number }> {
  const { s3, sourceBucket, log } = ctx;
  const { overwritten, deleted } = pickVictims(keys);
  log(
    `\n10. ATTACK through the S3 API: overwriting ${overwritten.length} objects (${ATTACK_OVERWRITE_SHARE * 100}%) in place with random bytes, deleting ${deleted.length} (${ATTACK_DELETE_SHARE * 100}%), and setting a lifecycle rule that expires every object after 1 day…`,
  );
  const started = new Date();
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
        const size = (await bytesOf(out.Body)).length;
        await s3.send(new PutObjectCommand({ Bucket: sourceBucket, Key: key, Body: randomBytes(size) }));
      }),
    ),
    ...deleted.map((key) =>
      limit(() => s3.send(new DeleteObjectCommand({ Bucket: sourceBucket, Key: key }))),
    ),
  ]);
  log(`    done in ${formatSeconds((Date.now() - started.getTime()) / 1000)}`);
  return { started, changes: overwritten.length + deleted.length };
}

/**
 * Wait until `expected` changes are journaled, printing progress every 30 s. It fails only when
 * capture makes no progress for 2 minutes: how long the whole takes depends on the machine (16,000
 * changes are minutes of capture on two loaded cores). Polled every 5 s: each poll reads the journal.
 */
async function waitForJournal(
  journaled: () => Promise<readonly unknown[]>,
  expected: number,
  log: (line: string) => void,
): Promise<void> {
  let last = -1;
  let lastProgressAt = Date.now();
  let lastLogAt = Date.now();
  for (;;) {
    const n = (await journaled()).length;
    if (n >= expected) return;
    if (n > last) {
      last = n;
      lastProgressAt = Date.now();
    } else if (Date.now() - lastProgressAt > 120_000) {
      throw new Error(`capture journaled no change for 2 minutes (${n} of ${expected})`);
    }
    if (Date.now() - lastLogAt >= 30_000) {
      log(`    … ${n} of ${expected} journaled`);
      lastLogAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, 5000));
  }
}

/** Step 11: the detector's quarantine, its findings, and the problems with them. */
async function detection(
  ctx: AttackContext,
  attackOf: { started: Date; changes: number },
  lastClean: string,
  problems: string[],
): Promise<QuarantineRecord | undefined> {
  const { container: c, planId, log } = ctx;
  const since = attackOf.started.toISOString();
  log('\n11. Waiting for the detector (it runs in capture, on every captured change)…');
  const quarantine = await waitUntil<QuarantineRecord>(
    async () => (await c.pipeline.catalog.getQuarantine(planId)) ?? undefined,
    180_000,
  ).catch(() => undefined);
  if (!quarantine) {
    problems.push('the detector did not quarantine the plan within 180 s of the attack');
    return undefined;
  }
  const journaled = async () => c.pipeline.catalog.listJournal(planId, { capturedAfter: since });
  const capturedBefore = (await journaled()).filter((e) => e.capturedAt <= quarantine.at).length;
  log(
    `    QUARANTINED by ${quarantine.by} at ${quarantine.at}: ${quarantine.reason}\n` +
      `    the attack began ${since}; ${capturedBefore} of its ${attackOf.changes} changes had been captured when the detector fired\n` +
      `    holding snapshot ${quarantine.heldSnapshotId ?? '(none)'}, the newest before ${quarantine.since}`,
  );
  if (quarantine.by !== 'detector')
    problems.push(`the plan was quarantined by ${quarantine.by}, not the detector`);
  if (quarantine.heldSnapshotId !== lastClean) {
    problems.push(
      `the quarantine holds ${quarantine.heldSnapshotId ?? 'no snapshot'}, not ${lastClean}, the last before the attack`,
    );
  }
  log('    waiting for capture to journal every change of the attack…');
  await waitForJournal(journaled, attackOf.changes, log);
  // S3 sends no event for a lifecycle edit: the scheduler's settings watch reads it every tick.
  log("    waiting for the scheduler's settings watch to see the lifecycle rule (it reads it every minute)…");
  const findings = await waitUntil(async () => {
    const all = await c.pipeline.catalog.listFindings(planId);
    return all.some((f) => f.kind === 'sourceSettings') ? all : undefined;
  }, 150_000).catch(() => c.pipeline.catalog.listFindings(planId));
  const lines = anomalyLines(findings, new Date()).map((l) => `      ${l}`);
  log(`    'strongbox status':\n${lines.join('\n')}`);
  for (const kind of ['encryptedOverwrites', 'sourceSettings'] as const) {
    if (!findings.some((f) => f.kind === kind)) problems.push(`the detector recorded no ${kind} finding`);
  }
  return quarantine;
}

/** Step 12: snapshots of the attacked bucket and their prunes, under the quarantine. */
async function retentionUnderQuarantine(
  ctx: AttackContext,
  quarantine: QuarantineRecord,
  problems: string[],
): Promise<SnapshotRecord | undefined> {
  const { container: c, planId, log } = ctx;
  log('\n12. Retention and GC keep running: three snapshots of the attacked bucket, each followed by prune…');
  let lastJob = '';
  for (let i = 1; i <= 3; i += 1) {
    const { snapshotId } = await startSnapshotNow(c.pipeline, planId);
    const job = await ctx.follow(snapshotId);
    if (job.status !== 'SUCCEEDED')
      problems.push(`snapshot ${snapshotId} after the attack: ${job.status} ${job.error ?? ''}`);
    lastJob = `${planId}/${snapshotId}`;
  }
  const regions = 1 + c.pipeline.vaults.copies.size;
  const gcRuns = await waitUntil(async () => {
    const tasks = (await c.pipeline.catalog.listTasks(lastJob)).filter(
      (t) => t.taskId.startsWith('prune:') && t.status !== 'RUNNING',
    );
    return tasks.length >= regions ? tasks : undefined;
  }, 120_000);
  for (const t of gcRuns) {
    const deferred = typeof t.result?.deferred === 'string' ? t.result.deferred : undefined;
    log(`    GC ${t.taskId.slice('prune:'.length)}: ${deferred ? `deferred (${deferred})` : 'RAN'}`);
    if (!deferred?.includes('quarantine'))
      problems.push(`GC in ${t.taskId} ran while the plan was in quarantine`);
  }
  const snapshots = await c.pipeline.catalog.listSnapshots(planId);
  const plan = await c.pipeline.catalog.getPlan(planId);
  if (plan) {
    log(
      '    what retention would decide (keepLast 3, keepDaily 7) — forget is paused while the plan is in quarantine:',
    );
    log(formatForgetTable(decideRetention(snapshots, plan, new Date())));
  }
  const held = snapshots.find((s) => s.snapshotId === quarantine.heldSnapshotId);
  if (held?.status !== 'COMMITTED') {
    problems.push(`the held snapshot ${quarantine.heldSnapshotId} is ${held?.status ?? 'gone'}`);
    return undefined;
  }
  log(`    held snapshot ${held.snapshotId}: ${held.status}, legal hold '${held.legalHold?.reason ?? ''}'`);
  return held;
}

/** Steps 13 and 14: clean-point, and the held snapshot restored and compared with the tree before. */
async function restoreCleanPoint(
  ctx: AttackContext,
  held: SnapshotRecord,
  before: ReadonlyMap<string, string>,
  problems: string[],
): Promise<void> {
  const { container: c, s3, planId, log } = ctx;
  log(`\n13. 'strongbox clean-point ${planId}': where to restore from…`);
  const points = await cleanPoints(c.pipeline, planId);
  log(
    `    newest snapshot before the attack: ${points.snapshot?.snapshotId ?? '(none)'} (${points.snapshot?.time ?? '-'}); ${points.touched.length} prefix(es) touched since ${points.since}`,
  );
  if (points.snapshot?.snapshotId !== held.snapshotId) {
    problems.push(
      `clean-point names ${points.snapshot?.snapshotId}, the quarantine holds ${held.snapshotId}`,
    );
  }
  log(
    `\n14. Restoring the clean point (snapshot ${held.snapshotId}) from ${ctx.restoreFrom.label} into s3://${CLEAN_RESTORE_BUCKET}/ and comparing it with the tree before the attack…`,
  );
  await s3.send(new CreateBucketCommand({ Bucket: CLEAN_RESTORE_BUCKET }));
  const report = await restoreSnapshot((ctx.restoreFrom.container ?? c).pipeline, {
    plan: planId,
    snapshot: held.snapshotId,
    targetBucket: CLEAN_RESTORE_BUCKET,
    ...(ctx.restoreFrom.region ? { region: ctx.restoreFrom.region } : {}),
  });
  const after = await treeOf(s3, CLEAN_RESTORE_BUCKET);
  const differ = [...before].filter(([key, hash]) => after.get(key) !== hash).map(([key]) => key);
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
      `Restored ${before.size - differ.length} of ${before.size} objects from the clean point (snapshot ${held.snapshotId}, ${ctx.restoreFrom.label}, ${formatSeconds(report.seconds)}): all byte-identical to the tree before the attack.`,
    );
  }
}

/**
 * Run the attack and Strongbox's answer to it.
 * @returns the problems found (empty when the clean point restored byte-identically).
 */
export async function runAttackDemo(ctx: AttackContext): Promise<string[]> {
  const quiet = await quietMoment(ctx);
  if (typeof quiet === 'string') return [quiet];
  const attackOf = await attack(ctx, [...quiet.before.keys()]);
  const problems: string[] = [];
  const quarantine = await detection(ctx, attackOf, quiet.lastClean, problems);
  if (!quarantine) return problems;
  const held = await retentionUnderQuarantine(ctx, quarantine, problems);
  if (held) await restoreCleanPoint(ctx, held, quiet.before, problems);
  return problems;
}
