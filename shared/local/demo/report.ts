/**
 * The demo's summary figures read back from the stack: each vault's usage and each region's garbage
 * collection.
 */

import type { TaskRecord } from '#domain/records.ts';
import { VaultLayout } from '#domain/vault.ts';
import type { Container } from '#runtime/container.ts';
import { formatBytes, formatSeconds } from '../format.ts';
import { waitUntil } from './wait.ts';

export function taskSeconds(t: TaskRecord | undefined): number | undefined {
  if (!t?.startedAt || !t.finishedAt) return undefined;
  return (Date.parse(t.finishedAt) - Date.parse(t.startedAt)) / 1000;
}

/** What each vault holds (format v2): packs, index documents, manifest parts and roots, and all their bytes. */
export async function vaultUsage(c: Container): Promise<
  {
    region: string;
    packs: number;
    packBytes: number;
    indexes: number;
    parts: number;
    manifests: number;
    storedBytes: number;
  }[]
> {
  const out = [];
  for (const vault of [c.pipeline.vaults.primary, ...c.pipeline.vaults.copies.values()]) {
    const usage = {
      region: vault.region,
      packs: 0,
      packBytes: 0,
      indexes: 0,
      parts: 0,
      manifests: 0,
      storedBytes: 0,
    };
    for await (const o of vault.list('')) {
      if (VaultLayout.packIdOf(o.key)) {
        usage.packs += 1;
        usage.packBytes += o.sizeBytes;
      } else if (VaultLayout.indexIdOf(o.key)) usage.indexes += 1;
      else if (VaultLayout.partIdOf(o.key)) usage.parts += 1;
      else if (VaultLayout.manifestIdOf(o.key)) usage.manifests += 1;
      usage.storedBytes += o.sizeBytes;
    }
    out.push(usage);
  }
  return out;
}

/** A prune task's figures for the stages table: packs deleted (objects) and bytes deleted. */
/**
 * One row per region's garbage collection (task ids `prune:<region>` of the gc tasks the forget task
 * enqueues), once each has finished (waits up to a minute).
 */
export async function pruneRows(c: Container, jobId: string, label: string): Promise<(string | number)[][]> {
  const regions = [c.pipeline.vaults.primary.region, ...c.pipeline.vaults.copies.keys()];
  const done = await waitUntil(async () => {
    const tasks = (await c.pipeline.catalog.listTasks(jobId)).filter((t) => t.taskId.startsWith('prune:'));
    const finished = tasks.filter((t) => t.status !== 'RUNNING');
    return finished.length >= regions.length ? finished : undefined;
  }, 60_000).catch(() => [] as TaskRecord[]);
  return done.map((t) => pruneRow(label, t.taskId.slice('prune:'.length), t));
}

export function pruneRow(label: string, region: string, t: TaskRecord | undefined): (string | number)[] {
  const r = t?.result ?? {};
  const deferred = typeof r.deferred === 'string' ? ` (GC deferred: ${r.deferred})` : '';
  return [
    `${label}${deferred}`,
    region,
    `${Number(r.packsMarked ?? 0)} pack(s) marked, ${Number(r.packsDeleted ?? 0)} pack(s), ${Number(r.partsDeleted ?? 0)} part(s), ${Number(r.manifestsDeleted ?? 0)} root(s) deleted`,
    formatBytes(Number(r.bytesDeleted ?? 0)),
    formatSeconds(taskSeconds(t)),
    '-',
  ];
}
