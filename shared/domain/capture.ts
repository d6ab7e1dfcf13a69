/**
 * Capture (continuous protection): every upload in a protected bucket is stored in the primary
 * vault within seconds of its S3 event, and every upload and delete becomes a journal entry for
 * each plan that protects the key.
 *
 * For an `ObjectCreated:*` record capture reads exactly what the event names — the version
 * (`versionId`, versioned buckets) or, unversioned, the object only while its ETag is still the
 * event's (`If-Match`) — chunk by chunk into a pack, then writes in the snapshot's order: the packs,
 * then the index document naming them, then the journal entries naming the blobs. An object
 * overwritten (412) or deleted (404) before capture read it is journaled `lost-before-capture`:
 * never other bytes under this event. So is an object of `resumableObjectBytes` or more whose read
 * would outlast the invocation (its time left under `timeReserveSeconds`): the snapshots read it,
 * pausing across invocations as capture cannot. An `ObjectRemoved:Delete` of one version (versioned buckets)
 * is journaled as what the key is after it — the current version's bytes, or a removal when none
 * is left — never as a removal of a key that still has a current version.
 *
 * What a record says happened (event names, versions, the sequencer) is read by the S3 bucket source
 * (`changeOf`, source/s3-events.ts); capture reads and asks through the plan's {@link Source}.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html
 * @see ../../docs/format.md#journal
 * @see ../../docs/format.md#read-and-write-ordering
 */
import { type CapturedChange, countChange } from './detector/count.ts';
import { ConflictError, EncryptedObjectError, NotFoundError, reasonOf } from './errors.ts';
import { nowIso, type PipelineDeps, tuningOf } from './pipeline.ts';
import { ReadPaused, readObjectChunks } from './reader.ts';
import type { JournalEntry } from './records.ts';
import { keptIndex } from './repository/kept-index.ts';
import { PackWriter, writeIndex } from './repository/write.ts';
import { type ChangeNotification, changeOf, type Source, sourceOf } from './source/index.ts';
import { type ContentId, contentIdOf, type ManifestEntry } from './vault.ts';

// The S3 event notification's schema and key decoding live with the S3 bucket source; re-exported
// here, where the capture handler and its tests have always found them.
export {
  decodeS3Key,
  objectEventName,
  type S3EventRecord,
  S3EventRecordSchema,
  S3TestEventSchema,
} from './source/s3-events.ts';

/** What capture did with one record. */
export type CaptureOutcome =
  | {
      status: 'journaled';
      bucket: string;
      key: string;
      plans: string[];
      outcome: JournalEntry['outcome'];
      /** From the record, for the capture-lag metric. */
      eventTime: string;
      /** New blobs stored in the primary vault for this record (0 when the vault held them all). */
      blobsWritten: number;
      reason?: string;
      /** The plans whose detector counted this change (docs/format.md#detector): run it for them. */
      counted: string[];
    }
  | {
      status: 'duplicate';
      bucket: string;
      key: string;
      plans: string[];
      outcome: JournalEntry['outcome'];
      eventTime: string;
      blobsWritten: number;
    }
  | { status: 'ignored'; bucket: string; key: string; reason: string };

/** What capture uses of the pipeline's deps. */
type CaptureDeps = Pick<
  PipelineDeps,
  | 'catalog'
  | 'clock'
  | 'envelope'
  | 'vaults'
  | 'objects'
  | 'gcGraceSeconds'
  | 'retry'
  | 'concurrency'
  | 'remainingTimeMs'
  | 'timeReserveSeconds'
  | 'resumableObjectBytes'
>;

/**
 * Capture one S3 event record: for an `ObjectCreated:*` record (a `written` change), read the object
 * the event names and store it in the primary vault (packs → index), then journal it for every plan
 * whose source covers its bucket and prefix; for an `ObjectRemoved:*` record, journal the removal —
 * or, for the deletion of one version that left a current version (an `unknown` change), that
 * version's bytes (see stateAfterVersionDelete). Redelivered records are
 * journaled once (the catalog is idempotent on plan, bucket, key and sequencer); their bytes are
 * read again but not stored again (the vault's index locates them).
 * @returns `ignored` (nothing read or written) when no plan protects the bucket and prefix.
 * @throws TransientError (retryable) when S3, the vault or the catalog may answer later: run the
 *   record again (storing and journaling twice is harmless). ValidationError (not retryable) for a
 *   malformed key.
 * @example
 * ```ts
 * for (const record of event.Records) await captureChange(deps, S3EventRecordSchema.parse(record));
 * ```
 */
export async function captureChange(deps: CaptureDeps, record: ChangeNotification): Promise<CaptureOutcome> {
  const change = changeOf(record);
  const { bucket, key } = change;
  const protecting = (await deps.catalog.listPlans())
    .map((plan) => ({ plan, source: sourceOf(deps, plan.source) }))
    .filter(({ source }) => source.covers(change));
  const [first] = protecting;
  if (first === undefined)
    return { status: 'ignored', bucket, key, reason: 'no plan protects this bucket and prefix' };
  // Every plan covering the change reads the same bucket and key: the first one's source reads it.
  const { source } = first;
  const plans = protecting.map((p) => p.plan);
  const { eventTime, versionId } = change;
  const common = {
    bucket,
    key,
    event: change.after === 'written' ? ('created' as const) : ('removed' as const),
    eventTime,
    sequencer: change.sequencer,
    ...(versionId === undefined ? {} : { versionId }),
  };

  let body: EntryBody;
  let blobsWritten = 0;
  const sizes = { plaintextBytes: 0, sealedBytes: 0, unreadable: false };
  if (change.after === 'written') {
    const { sizeBytes, etag } = change;
    const read = await storeObject(deps, source, key, sizeBytes ?? 0, { versionId, etag });
    blobsWritten = read.blobsWritten;
    sizes.plaintextBytes = read.plaintextBytes ?? 0;
    sizes.sealedBytes = read.sealedBytes ?? 0;
    sizes.unreadable = 'unreadable' in read && read.unreadable === true;
    body =
      'reason' in read
        ? {
            outcome: 'lost-before-capture',
            ...(sizeBytes === undefined ? {} : { sizeBytes }),
            ...(etag === undefined ? {} : { etag }),
            reason: read.reason,
          }
        : capturedBody(read.entry, etag, read.encryption);
  } else if (change.after === 'unknown') {
    // One version removed (the source says which, not what is left): the key may still have a
    // current version — older, or unchanged — so ask the source what the key is now.
    const state = await stateAfterVersionDelete(deps, source, key);
    blobsWritten = state.blobsWritten;
    body = state.body;
  } else {
    body = { outcome: 'removed' };
  }

  // Journal last: the bytes the entries name are stored and indexed by now.
  const capturedAt = nowIso(deps.clock);
  const fresh: typeof plans = [];
  for (const plan of plans) {
    const entry: JournalEntry = { planId: plan.id, ...common, capturedAt, ...body };
    if (await deps.catalog.appendJournal(entry)) fresh.push(plan);
  }
  const outcome = {
    bucket,
    key,
    plans: plans.map((p) => p.id),
    outcome: body.outcome,
    eventTime,
    blobsWritten,
  };
  if (fresh.length === 0) return { status: 'duplicate', ...outcome };
  // Counted once journaled: a redelivered event journals nothing and counts nothing.
  const captured: CapturedChange = {
    key,
    sequencer: change.sequencer,
    event: common.event,
    outcome: body.outcome,
    ...sizes,
    ...(body.encryption === undefined ? {} : { encryption: body.encryption }),
  };
  const counted = await countChange(deps, fresh, captured);
  return {
    status: 'journaled',
    ...outcome,
    counted,
    ...(body.outcome === 'lost-before-capture' && body.reason ? { reason: body.reason } : {}),
  };
}

/** What a journal entry says beyond the event it journals. */
type EntryBody = Omit<
  JournalEntry,
  'planId' | 'capturedAt' | 'bucket' | 'key' | 'event' | 'eventTime' | 'sequencer' | 'versionId'
>;

/** The `captured` body of an object read into the vault; `etag` (the event's) wins over the read's. */
function capturedBody(entry: ManifestEntry, etag: string | undefined, encryption?: string): EntryBody {
  return {
    outcome: 'captured',
    sizeBytes: entry.sizeBytes,
    etag: etag ?? entry.etag,
    lastModified: entry.lastModified,
    ...(entry.contentType === undefined ? {} : { contentType: entry.contentType }),
    ...(entry.metadata === undefined ? {} : { metadata: entry.metadata }),
    blobs: entry.blobs,
    ...(entry.contentSha256 === undefined ? {} : { contentSha256: entry.contentSha256 }),
    ...(encryption === undefined ? {} : { encryption }),
  };
}

/** Reads of the current version after a version delete, when it keeps changing under capture. */
const CURRENT_VERSION_ATTEMPTS = 3;

/**
 * The key's state after an `ObjectRemoved:Delete` of one version (versioned bucket): S3 sends it
 * for deleting a noncurrent version (nothing visible changes), the current version (the newest
 * remaining one becomes current: the key's content changes to it), or a delete marker (the version
 * under it comes back). So capture asks the source what a GET would read now (`currentVersion`,
 * one HEAD): a current version is read — that exact version, chunk by chunk — into the vault and
 * journaled `captured` (`currentVersionId` names it), never `removed`; no current version (none left,
 * or the newest is a delete marker) is `removed`. The state is the one at capture time, at or after
 * the event: it may show a later change early, never an earlier one (docs/format.md#journal).
 */
async function stateAfterVersionDelete(
  deps: CaptureDeps,
  source: Source,
  key: string,
): Promise<{ body: EntryBody; blobsWritten: number }> {
  let reason = '';
  for (let attempt = 1; attempt <= CURRENT_VERSION_ATTEMPTS; attempt++) {
    const current = await source.currentVersion(key);
    if (!current) return { body: { outcome: 'removed' }, blobsWritten: 0 };
    const read = await storeObject(deps, source, key, current.sizeBytes, {
      versionId: current.versionId,
      etag: current.etag,
    });
    if (!('reason' in read)) {
      const body = capturedBody(read.entry, current.etag, read.encryption);
      if (current.versionId !== undefined) body.currentVersionId = current.versionId;
      return { body, blobsWritten: read.blobsWritten };
    }
    reason = read.reason;
    if (read.paused) break; // too large for this invocation: asking again would not help
    // changed again between the HEAD and the read: ask again
  }
  return { body: { outcome: 'lost-before-capture', reason }, blobsWritten: 0 };
}

/**
 * Read the object an `ObjectCreated` event names into the primary vault: chunks → new blobs into a
 * pack → the packs stored → one index document naming them. Memory: one chunk and the open pack.
 * @returns the manifest-like entry and the blobs written, or the reason the bytes are gone.
 */
async function storeObject(
  deps: CaptureDeps,
  source: Source,
  key: string,
  sizeBytes: number,
  named: { versionId: string | undefined; etag: string | undefined },
): Promise<
  | {
      entry: ManifestEntry;
      blobsWritten: number;
      plaintextBytes?: number;
      sealedBytes?: number;
      encryption?: string;
    }
  | {
      reason: string;
      blobsWritten: number;
      paused?: true;
      unreadable?: true;
      plaintextBytes?: number;
      sealedBytes?: number;
    }
> {
  if (named.versionId === undefined && named.etag === undefined) {
    // Without a version or an ETag, nothing says which bytes are the event's.
    return { reason: 'the event names neither a version nor an ETag to read', blobsWritten: 0 };
  }
  const { envelope, vaults } = deps;
  const index = await keptIndex(deps, vaults.primary);
  const packs = new PackWriter(vaults.primary, envelope);
  let blobsWritten = 0;
  const store = async (chunk: Uint8Array): Promise<ContentId> => {
    const blobId = contentIdOf(chunk);
    if (!packs.added.has(blobId) && !index.locate(blobId)) {
      blobsWritten += 1;
      await packs.add(blobId, chunk);
    }
    return blobId;
  };
  // An object too large to read before the invocation's time runs out is left to the next snapshot.
  const { remainingTimeMs } = deps;
  const reserveMs = tuningOf(deps).timeReserveSeconds * 1000;
  const resumable = remainingTimeMs && {
    pause: () => remainingTimeMs() < reserveMs,
    minBytes: tuningOf(deps).resumableObjectBytes,
  };
  let entry: ManifestEntry;
  // How S3 encrypts the version read (its first response says): journaled for the detector.
  let encryption: string | undefined;
  const watched: Source = {
    kind: source.kind,
    list: (options) => source.list(options),
    read: async (item, options) => {
      const read = await source.read(item, options);
      encryption ??= read.encryption;
      return read;
    },
    currentVersion: (k) => source.currentVersion(k),
    covers: (where) => source.covers(where),
    uriOf: (k) => source.uriOf(k),
  };
  try {
    entry = await readObjectChunks(
      watched,
      { key, sizeBytes },
      named.versionId === undefined ? { ifMatch: named.etag as string } : { versionId: named.versionId },
      store,
      resumable,
    );
  } catch (error) {
    if (error instanceof ReadPaused) {
      // What was read is stored and indexed: the reconcile that reads the object finds those chunks.
      const stored = await packs.flush();
      index.addDocument(await writeIndex(vaults.primary, envelope, stored), stored);
      const { offsetBytes, sizeBytes: total } = error.progress;
      return {
        reason: `too large to capture within one invocation: ${source.uriOf(key)} was read to byte ${offsetBytes} of ${total} when time ran low; left to the snapshots (a journal-built one counts it lost, so the next reconciles and reads it)`,
        blobsWritten,
        paused: true,
      };
    }
    if (error instanceof ConflictError) {
      return {
        reason: `overwritten before capture: ${source.uriOf(key)} no longer has ETag ${named.etag} (${reasonOf(error)})`,
        blobsWritten: 0,
      };
    }
    if (error instanceof EncryptedObjectError) {
      // Re-encrypted with a customer key (SSE-C): not readable by anyone but its key's holder.
      return {
        reason: `unreadable: ${source.uriOf(key)} is encrypted with a key capture does not hold (${reasonOf(error)})`,
        blobsWritten: 0,
        unreadable: true,
      };
    }
    if (error instanceof NotFoundError) {
      const what = named.versionId === undefined ? '' : ` version ${named.versionId}`;
      return {
        reason: `deleted before capture: ${source.uriOf(key)}${what} is gone (${reasonOf(error)})`,
        blobsWritten: 0,
      };
    }
    throw error;
  }
  // Packs, then the index naming them; the journal entry comes after (the caller).
  const stored = await packs.flush();
  index.addDocument(await writeIndex(vaults.primary, envelope, stored), stored);
  return {
    entry,
    blobsWritten,
    plaintextBytes: packs.plaintextBytesAdded,
    sealedBytes: packs.sealedBytesAdded,
    ...(encryption === undefined ? {} : { encryption }),
  };
}
