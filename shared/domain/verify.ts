/**
 * Verification: every blob a snapshot references exists in each region that holds it (by diffing
 * one listing, not one request per blob), and a sample of blobs downloads, decrypts, decompresses
 * and hashes to its address. The result is recorded on the snapshot; a failure is never retried
 * into success.
 * @see ../../docs/format.md#verification
 */
import { createHash } from 'node:crypto';
import pLimit from 'p-limit';
import { blobIdsIn } from './copy.ts';
import { IntegrityError, NotFoundError, reasonOf } from './errors.ts';
import { readManifest } from './manifests.ts';
import { nowIso, type PipelineDeps, vaultIn } from './pipeline.ts';
import type { RegionVerification, Verification } from './ports.ts';
import { jobIdOf, type VerifyTask } from './tasks.ts';
import { blobAssociatedData, contentIdOf, VaultLayout } from './vault.ts';

/**
 * Whether `blobId` is in the verification sample of `snapshotId`: a deterministic draw from the hash
 * of both, so each snapshot samples different blobs and a retry samples the same ones.
 * @param samplePercent 0–100.
 */
export function inSample(snapshotId: string, blobId: string, samplePercent: number): boolean {
  const draw =
    createHash('sha256').update(`${snapshotId}:${blobId}`).digest().readUInt32BE(0) / 0x1_0000_0000;
  return draw < samplePercent / 100;
}

/**
 * Run a verify task over the primary region and every region the snapshot was copied to.
 * @throws NotFoundError (not retryable) for an unknown plan or snapshot.
 * @throws TransientError (retryable) when storage fails; missing or corrupt data is a result, not an error.
 * @example
 * ```ts
 * const v = await verifySnapshot(deps, { kind: 'verify', planId: 'photos', snapshotId });
 * if (v.status === 'FAILED') alarm(v);
 * ```
 */
export async function verifySnapshot(
  deps: PipelineDeps,
  task: VerifyTask,
): Promise<Verification | undefined> {
  const { catalog, clock, envelope, vaults } = deps;
  const jobId = jobIdOf(task);
  const plan = await catalog.getPlan(task.planId);
  if (!plan) throw new NotFoundError(`plan '${task.planId}' does not exist`);
  const snapshot = await catalog.getSnapshot(task.planId, task.snapshotId);
  if (!snapshot) throw new NotFoundError(`snapshot ${jobId} does not exist`);
  if (snapshot.status !== 'COMMITTED' || !snapshot.manifestId) return undefined;
  const manifestId = snapshot.manifestId;
  await catalog.startTask(jobId, 'verify', nowIso(clock));
  try {
    const manifest = await readManifest(vaults.primary, envelope, task.planId, manifestId);
    const referenced = [...new Set(manifest.entries.map((e) => e.blobId))];
    const regions = [
      vaults.primary.region,
      ...Object.entries(snapshot.regions ?? {})
        .filter(([, copy]) => copy.status === 'COPIED')
        .map(([region]) => region),
    ];
    const results: Record<string, RegionVerification> = {};
    for (const region of regions) {
      const started = clock.now();
      const vault = vaultIn(vaults, region);
      let manifestPresent = true;
      try {
        await readManifest(vault, envelope, task.planId, manifestId);
      } catch (error) {
        if (!(error instanceof NotFoundError || error instanceof IntegrityError)) throw error;
        manifestPresent = false;
      }
      const present = await blobIdsIn(vault);
      const missingBlobs = referenced.filter((id) => !present.has(id));
      let sample = referenced.filter(
        (id) => present.has(id) && inSample(task.snapshotId, id, plan.verification.samplePercent),
      );
      const first = referenced.find((id) => present.has(id));
      if (sample.length === 0 && first && plan.verification.samplePercent > 0) sample = [first];
      const corruptBlobs: string[] = [];
      let sampledBytes = 0;
      const limit = pLimit(deps.concurrency ?? 16);
      await Promise.all(
        sample.map((blobId) =>
          limit(async () => {
            try {
              const sealed = await vault.get(VaultLayout.blobKey(blobId));
              sampledBytes += sealed.length;
              const plaintext = await envelope.open(sealed, blobAssociatedData(blobId));
              if (contentIdOf(plaintext) !== blobId) corruptBlobs.push(blobId);
            } catch (error) {
              if (error instanceof IntegrityError) corruptBlobs.push(blobId);
              else if (error instanceof NotFoundError) missingBlobs.push(blobId);
              else throw error;
            }
          }),
        ),
      );
      results[region] = {
        referencedBlobs: referenced.length,
        missingBlobs: missingBlobs.slice(0, 100),
        manifestPresent,
        sampledBlobs: sample.length,
        sampledBytes,
        corruptBlobs: corruptBlobs.slice(0, 100),
        seconds: (clock.now().getTime() - started.getTime()) / 1000,
      };
    }
    const passed = Object.values(results).every(
      (r) => r.manifestPresent && r.missingBlobs.length === 0 && r.corruptBlobs.length === 0,
    );
    const verification: Verification = {
      status: passed ? 'PASSED' : 'FAILED',
      checkedAt: nowIso(clock),
      regions: results,
    };
    await catalog.updateSnapshot(task.planId, task.snapshotId, { verification }, ['COMMITTED']);
    const failure = passed ? undefined : describeFailure(verification);
    await catalog.updateTask(jobId, 'verify', {
      status: passed ? 'SUCCEEDED' : 'FAILED',
      finishedAt: nowIso(clock),
      ...(failure ? { error: failure } : {}),
      result: { regions: regions.length, referencedBlobs: referenced.length },
    });
    if (failure)
      await catalog.updateJob(jobId, { status: 'FAILED', error: failure, updatedAt: nowIso(clock) });
    await deps.queue.send({ kind: 'prune', planId: task.planId, snapshotId: task.snapshotId });
    return verification;
  } catch (error) {
    await catalog.updateTask(jobId, 'verify', {
      status: 'FAILED',
      error: reasonOf(error),
      finishedAt: nowIso(clock),
    });
    throw error;
  }
}

function describeFailure(v: Verification): string {
  return Object.entries(v.regions)
    .filter(([, r]) => !r.manifestPresent || r.missingBlobs.length > 0 || r.corruptBlobs.length > 0)
    .map(
      ([region, r]) =>
        `verification failed in ${region}: ${r.manifestPresent ? '' : 'manifest missing, '}${r.missingBlobs.length} missing, ${r.corruptBlobs.length} corrupt blob(s)`,
    )
    .join('; ');
}
