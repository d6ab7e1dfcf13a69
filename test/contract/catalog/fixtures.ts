/** Records the catalog contract suites store: one plan, its jobs, snapshots, journal and partitions. */
import type {
  JobRecord,
  JournalEntry,
  PartitionCheckpoint,
  PartitionSummary,
  PlanRecord,
  RestoreJobRecord,
  SnapshotRecord,
} from '#domain/records.ts';
import { contentIdOf, type PartRef } from '#domain/vault.ts';

export const plan: PlanRecord = {
  id: 'photos',
  source: { bucket: 'src', prefix: '' },
  schedule: 'rate(1 hour)',
  retention: { keepLast: 1 },
  copyRegions: ['eu-west-1'],
  verification: { samplePercent: 5 },
  enabled: true,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};
export const job = (snapshotId: string): JobRecord => ({
  jobId: `photos/${snapshotId}`,
  planId: 'photos',
  snapshotId,
  status: 'RUNNING',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
export const snapshot = (snapshotId: string): SnapshotRecord => ({
  planId: 'photos',
  snapshotId,
  status: 'RUNNING',
  scheduledAt: '2026-01-01T00:00:00.000Z',
});

export const restoreJob = (restoreJobId: string, slicesTotal = 2): RestoreJobRecord => ({
  restoreJobId,
  status: 'RUNNING',
  planId: 'photos',
  snapshotId: 'S1',
  manifestId: 'm1',
  region: 'us-east-1',
  targetBucket: 'restored',
  request: { plan: 'photos', overwrite: 'never', targetPrefix: '' },
  selected: 7,
  selectedBytes: 700,
  objects: 0,
  bytes: 0,
  skippedExists: 0,
  skippedUnchanged: 0,
  slicesTotal,
  slicesDone: 0,
  sliceSize: 5,
  warnings: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});
export const journalEntry = (overrides: Partial<JournalEntry> = {}): JournalEntry => ({
  planId: 'photos',
  bucket: 'src',
  key: 'a.txt',
  event: 'created',
  eventTime: '2026-01-01T00:00:00.000Z',
  sequencer: '0055AED6DCD90281E5',
  capturedAt: '2026-01-01T00:00:01.000Z',
  outcome: 'captured',
  sizeBytes: 1,
  etag: 'f'.repeat(32),
  blobs: ['0'.repeat(64)],
  ...overrides,
});
export const counts = (objects: number, skippedExists = 0) => ({
  objects,
  bytes: objects * 100,
  skippedExists,
  skippedUnchanged: 0,
});

/** `n` part refs whose keys start with `key`, in key order. */
export const parts = (n: number, key: string): PartRef[] =>
  Array.from({ length: n }, (_, i) => ({
    partId: contentIdOf(`${key}${i}`),
    firstKey: `${key}/${String(i).padStart(5, '0')}/a`,
    lastKey: `${key}/${String(i).padStart(5, '0')}/z`,
    objectCount: 1000,
    logicalBytes: 123_456,
  }));
export const checkpoint = (partition: number, invocations: number, refs: PartRef[]): PartitionCheckpoint => ({
  partition,
  afterKey: refs.at(-1)?.lastKey ?? 'a',
  parts: refs,
  objectsRead: 10,
  blobsWritten: 9,
  packsWritten: 1,
  storedBytesWritten: 4096,
  objectsVanished: 0,
  invocations,
  seconds: 600.5,
  checkpointedAt: '2026-01-01T00:10:00.000Z',
});
export const summary = (partition: number): PartitionSummary => ({
  partition,
  parts: parts(1, `s${partition}`),
  objectCount: 1000,
  logicalBytes: 123_456,
  objectsRead: 1000,
  blobsWritten: 1000,
  packsWritten: 1,
  storedBytesWritten: 4096,
  objectsVanished: 0,
  invocations: 1,
  seconds: 1,
  doneAt: '2026-01-01T00:10:00.000Z',
});

// DynamoDB's 400 KB item limit: the three lists that outgrow it at run time are kept whole (in
// overflow items); anything else that outgrows it is refused for good (ValidationError).

/** The `i`-th 64-hex id. */
export const hex = (i: number) => i.toString(16).padStart(64, '0');
/** A key of ~908 bytes. */
export const longKey = (i: number) => `${'deep/'.repeat(180)}${String(i).padStart(8, '0')}`;
/** A string of ~500 KB: an attribute no item can hold (there is no long list to move out). */
export const tooLarge = () => 'x'.repeat(500 * 1024);
