/**
 * Restore: write a snapshot's objects (all, or those a key, a prefix and include/exclude globs
 * select) into a target bucket — the plan's source bucket unless another is named — each under its
 * original key below an optional prefix, with its content type and metadata, after checking that
 * every chunk hashes to its blob id and the whole object to the manifest's SHA-256. An overwrite
 * policy decides what happens to keys the target already holds; packs in archive storage classes are
 * restored from the archive first.
 *
 * Reading (format version 2): the manifest root names its parts; only the parts whose key range can
 * hold selected entries are read. The region's index (loaded once per task) locates each blob in
 * its pack. An object of several chunks is read chunk by chunk (one ranged GET per blob) and
 * streamed as a multipart upload, so a restore holds about one chunk per such object in flight,
 * never a whole large object. Objects of one chunk are read many at a time: their blobs, grouped by
 * pack, in runs of up to one chunk of pack bytes, one ranged GET per run
 * ({@link RESTORE_COALESCE_LIMITS}); each is then written with one PUT.
 *
 * Small selections are restored in one call ({@link restoreSnapshot}); large ones fan out
 * ({@link startRestore}): a restore job in the catalog and one restore-slice task per slice of the
 * selection, each run by {@link restoreSlice} with the same per-object work.
 * @see ../../../docs/format.md#manifests
 * @see ../../../docs/format.md#index
 * @see ../../../docs/format.md#read-and-write-ordering
 * @see ../../../docs/format.md#catalog (the restore job record)
 */

export { ARCHIVE_CLASSES, ArchivePendingError, prepareArchivedPacks } from './archive.ts';
export { RESTORE_COALESCE_LIMITS } from './entries.ts';
export {
  DEFAULT_FANOUT_THRESHOLD,
  DEFAULT_SLICE_SIZE,
  type RestoreSliceResult,
  type RestoreStart,
  reportOfRestoreJob,
  restoreJobIdOf,
  restoreSlice,
  startRestore,
} from './jobs.ts';
export { commonPrefix, LISTING_THRESHOLD } from './listing.ts';
export { OVERWRITE_POLICIES, type OverwritePolicy, overwriteDecision, type SkipReason } from './overwrite.ts';
export { pointInTimeChanges } from './point-in-time.ts';
export { REPORT_LIST_LIMIT, type RestoreProgress, type RestoreReport } from './report.ts';
export {
  type ParsedRestoreRequest,
  parseRestoreRequest,
  type RestoreOptions,
  type RestoreRequest,
  RestoreRequestSchema,
} from './request.ts';
export { restoreSnapshot } from './restore.ts';
export {
  type EntrySelection,
  EntrySelector,
  findEntry,
  selectEntries,
  selectFromManifest,
  selectSnapshot,
} from './selection.ts';
export { cutSlices, DEFAULT_SLICE_BYTES, measureSelection, Slicer, sliceRanges } from './slices.ts';
export { type CapturedVersion, type JournalVersion, type KeyVersion, listVersions } from './versions.ts';
export { verifiedEntryContent, writeEntry } from './write.ts';
