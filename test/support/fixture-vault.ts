/**
 * Frozen vault fixtures (test/fixtures/vaults, made once by test/fixtures/make-vaults.ts): read one
 * into the memory twins, so a test runs the product's use cases (restore, verify, repair) on a vault
 * an older release wrote. Each fixture directory holds the vault's documents as files (path = vault
 * key: `packs/`, `index/`, `parts/`, `manifests/`), `catalog.json` (the catalog records the tests
 * need) and, for the damaged ones, `damage.json` (what was done to the healthy vault).
 * @see ../../docs/format.md#layout
 * @see ../fixtures/vaults/README.md
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MasterKeyProvider } from '#adapters/key-providers.ts';
import { withRetry } from '#adapters/retrying.ts';
import { Envelope } from '#domain/envelope.ts';
import type { PipelineDeps } from '#domain/pipeline.ts';
import type { JobRecord, PlanRecord, SnapshotRecord } from '#domain/records.ts';
import { MemoryCatalog } from './memory/catalog.ts';
import { ManualClock } from './memory/clock.ts';
import { MemoryObjectStore } from './memory/object-store.ts';
import { MemoryTaskQueue } from './memory/task-queue.ts';
import { MemoryVaultStore } from './memory/vault-store.ts';

/** Where the fixtures live. */
export const FIXTURE_VAULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'vaults');

/**
 * The fixtures' master key file: 32 bytes, base64. A TEST key, committed on purpose and never used
 * for anything but these fixtures: it is what makes them decryptable forever.
 */
export const FIXTURE_KEY_FILE = join(FIXTURE_VAULTS_DIR, 'TEST-MASTER-KEY.base64');

/** Region and bucket of the fixtures' (only) vault. */
export const FIXTURE_REGION = 'us-east-1';
export const FIXTURE_BUCKET = 'fixture-vault';

/** The vault prefixes a fixture directory holds (docs/format.md#layout). */
const VAULT_PREFIXES = ['packs', 'index', 'parts', 'manifests'] as const;

/** `catalog.json`: the records the catalog held when the fixture was made. */
export interface FixtureCatalog {
  /** The vault format version the fixture was written in (docs/format.md, title). */
  formatVersion: number;
  plans: PlanRecord[];
  jobs: JobRecord[];
  snapshots: SnapshotRecord[];
}

/** `expected.json` (healthy vault only): each snapshot's objects, key → SHA-256 (hex) of the content. */
export interface FixtureExpected {
  planId: string;
  snapshots: {
    snapshotId: string;
    kind: 'full' | 'incremental';
    manifestId: string;
    objects: Record<string, string>;
  }[];
}

/** `damage.json` (damaged vaults only): what was done to a copy of the healthy vault. */
export interface FixtureDamage {
  kind: 'missing-pack' | 'corrupt-blob' | 'missing-index' | 'missing-part';
  description: string;
  /** The vault key removed, or (corrupt-blob) the pack whose bytes were flipped. */
  key: string;
  /** corrupt-blob: the blob whose ciphertext was flipped, and the byte offset in the pack. */
  blobId?: string;
  offsetBytes?: number;
}

/** A fixture loaded into the memory twins. */
export interface FixtureVault {
  name: string;
  deps: PipelineDeps;
  clock: ManualClock;
  catalog: MemoryCatalog;
  queue: MemoryTaskQueue;
  vault: MemoryVaultStore;
  objects: MemoryObjectStore;
  records: FixtureCatalog;
  damage?: FixtureDamage;
}

/** The committed test master key (32 bytes). */
export async function readFixtureKey(): Promise<Buffer> {
  return Buffer.from((await readFile(FIXTURE_KEY_FILE, 'utf8')).trim(), 'base64');
}

/** A key provider under `master`, labelled with where the key comes from (named in errors). */
export function fixtureKeyProvider(master: Buffer, label = FIXTURE_KEY_FILE): MasterKeyProvider {
  return new MasterKeyProvider(async () => Buffer.from(master), label);
}

/** Read a JSON file of a fixture directory. */
export async function readFixtureJson<T>(name: string, file: string): Promise<T> {
  return JSON.parse(await readFile(join(FIXTURE_VAULTS_DIR, name, file), 'utf8')) as T;
}

/** Every file under `dir`, as paths relative to `root` with `/` separators. */
async function filesUnder(root: string, dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(join(root, dir), { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const path = join(root, dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(root, relative(root, path))));
    else if (entry.isFile()) out.push(relative(root, path).split(sep).join('/'));
  }
  return out.sort();
}

/**
 * Load fixture `name` (a directory of test/fixtures/vaults) into a fresh memory pipeline: its
 * documents into a {@link MemoryVaultStore} (put as they are, so the store's checksums are those of
 * the files' bytes, as S3's would be for an object stored with those bytes), its catalog records
 * into a {@link MemoryCatalog}.
 * @param options.masterKey the key to open the vault with (default: the committed test key), and
 *   `keyLabel` where it comes from (named in errors; default: the key file's path).
 * @param options.catalog `full`: plans, jobs and snapshot records; `plans`: plans only (a catalog
 *   that lost its snapshot records, for `repair catalog`). @default 'full'
 */
export async function loadFixtureVault(
  name: string,
  options: { masterKey?: Buffer; keyLabel?: string; catalog?: 'full' | 'plans' } = {},
): Promise<FixtureVault> {
  const dir = join(FIXTURE_VAULTS_DIR, name);
  const records = await readFixtureJson<FixtureCatalog>(name, 'catalog.json');
  const damage = await readFixtureJson<FixtureDamage>(name, 'damage.json').catch((error) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  const newest = records.snapshots
    .map((s) => s.committedAt ?? s.scheduledAt)
    .sort()
    .at(-1);
  const clock = new ManualClock(new Date(Date.parse(newest ?? '2026-01-01T00:00:00Z') + 3600_000));
  const vault = new MemoryVaultStore(FIXTURE_REGION, FIXTURE_BUCKET, clock);
  for (const prefix of VAULT_PREFIXES) {
    for (const key of await filesUnder(dir, prefix)) await vault.put(key, await readFile(join(dir, key)));
  }
  const catalog = new MemoryCatalog();
  await catalog.putPlans(records.plans);
  if ((options.catalog ?? 'full') === 'full') {
    for (const snapshot of records.snapshots) {
      const job = records.jobs.find(
        (j) => j.planId === snapshot.planId && j.snapshotId === snapshot.snapshotId,
      );
      if (!job) throw new Error(`${name}/catalog.json: no job for ${snapshot.planId}/${snapshot.snapshotId}`);
      await catalog.createJob(job, snapshot);
    }
  }
  const queue = new MemoryTaskQueue();
  const objects = new MemoryObjectStore(clock);
  const deps: PipelineDeps = {
    catalog,
    queue,
    clock,
    envelope: new Envelope(
      fixtureKeyProvider(options.masterKey ?? (await readFixtureKey()), options.keyLabel ?? FIXTURE_KEY_FILE),
    ),
    vaults: { primary: vault, copies: new Map() },
    objects,
    retry: withRetry,
    concurrency: 4,
    gcGraceSeconds: 3600,
  };
  return { name, deps, clock, catalog, queue, vault, objects, records, ...(damage ? { damage } : {}) };
}
