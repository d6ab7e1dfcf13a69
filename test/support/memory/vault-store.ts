/**
 * A memory twin of the VaultStore port, for unit tests and the contract suites: same contract as the
 * S3 adapter, no network. It can inject faults.
 */

import { ConflictError, NotFoundError, TransientError, ValidationError } from '#domain/errors.ts';
import type {
  ArchiveTier,
  Clock,
  LockMode,
  PutOptions,
  StorageState,
  StoredChecksum,
  StoredObject,
  VaultStore,
} from '#domain/ports.ts';
import { compareKeys, storedChecksumOf } from '#domain/vault.ts';

/** Storage classes whose objects must be restored before they can be read. */
const ARCHIVE_CLASSES: ReadonlySet<string> = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** A fault to inject: fail the n-th matching call (1-based) with the given error. */
export interface Fault {
  op: 'put' | 'get' | 'list' | 'delete' | 'checksum';
  /** Only keys with this prefix count. */
  prefix?: string;
  /** Fail on this matching call; later calls succeed. */
  onCall: number;
  error?: Error;
}

/**
 * A vault bucket in memory. Lists in UTF-8 binary order; `faults` fail chosen calls. Like S3, it
 * records each object's checksum when it is put and reports that record from `checksum`, so a test
 * that changes `objects.get(key).body` behind its back corrupts the bytes, not the checksum.
 */
export class MemoryVaultStore implements VaultStore {
  readonly region: string;
  readonly bucket: string;
  readonly objects = new Map<string, { body: Uint8Array; lastModified: string; checksum: StoredChecksum }>();
  readonly faults: Fault[] = [];
  readonly calls = { put: 0, get: 0, getRange: 0, list: 0, delete: 0, checksum: 0 };
  readonly #clock: Clock;
  readonly #counts = new Map<Fault, number>();

  constructor(region: string, bucket: string, clock: Clock) {
    this.region = region;
    this.bucket = bucket;
    this.#clock = clock;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<StoredChecksum> {
    this.calls.put += 1;
    this.#maybeFail('put', key);
    if (options.retainUntil !== undefined && !options.lockMode) {
      throw new ValidationError(`retain-until ${options.retainUntil} needs a lock mode`, 'retainUntil');
    }
    const checksum = storedChecksumOf(body);
    this.objects.set(key, {
      body: Uint8Array.from(body),
      lastModified: this.#clock.now().toISOString(),
      checksum,
    });
    this.putOptions.set(key, { ...options });
    if (options.storageClass && options.storageClass !== 'STANDARD') {
      this.archived.set(key, { storageClass: options.storageClass, restore: 'none' });
    } else {
      this.archived.delete(key);
    }
    if (options.retainUntil && options.lockMode) this.#retain(key, options.retainUntil, options.lockMode);
    return { ...checksum };
  }

  /**
   * Object Lock simulation: each key's retention (mode and retain-until, ISO-8601 UTC). Like S3, a
   * retention is only ever extended, and the mode of a retained key never changes. Unlike S3 (whose
   * DELETE without a version id adds a delete marker and keeps the locked version), {@link delete}
   * refuses a key retained until after the clock's now: what deleting the locked version does in
   * COMPLIANCE mode. That lets a domain test see that nothing tried to delete a retained document.
   */
  readonly retention = new Map<string, { mode: LockMode; retainUntil: string }>();
  /** The options of each key's latest put (storage class, lock), as given. */
  readonly putOptions = new Map<string, PutOptions>();
  /** Every `extendRetention` call that moved a date, in order. */
  readonly retentionExtensions: { key: string; retainUntil: string }[] = [];

  #retain(key: string, retainUntil: string, mode: LockMode): boolean {
    const current = this.retention.get(key);
    if (current && Date.parse(current.retainUntil) >= Date.parse(retainUntil)) return false;
    this.retention.set(key, {
      mode: current?.mode ?? mode,
      retainUntil: new Date(retainUntil).toISOString(),
    });
    return true;
  }

  async retainUntil(key: string): Promise<string | undefined> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return this.retention.get(key)?.retainUntil;
  }

  async extendRetention(key: string, retainUntil: string, mode: LockMode): Promise<boolean> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    if (Number.isNaN(Date.parse(retainUntil))) {
      throw new ValidationError(`${retainUntil} is not an ISO-8601 time`, 'retainUntil');
    }
    const moved = this.#retain(key, retainUntil, mode);
    if (moved) this.retentionExtensions.push({ key, retainUntil: new Date(retainUntil).toISOString() });
    return moved;
  }

  async checksum(key: string): Promise<StoredChecksum> {
    this.calls.checksum += 1;
    this.#maybeFail('checksum', key);
    const found = this.objects.get(key);
    if (!found) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return { ...found.checksum };
  }

  async get(key: string): Promise<Uint8Array> {
    this.calls.get += 1;
    this.#maybeFail('get', key);
    const found = this.objects.get(key);
    if (!found) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    const state = this.archived.get(key);
    if (state && ARCHIVE_CLASSES.has(state.storageClass) && state.restore !== 'ready') {
      throw new ConflictError(`${key} in ${this.bucket} is in ${state.storageClass}: restore it first`);
    }
    return Uint8Array.from(found.body);
  }

  async getRange(key: string, offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    const body = await this.get(key);
    this.calls.get -= 1;
    this.calls.getRange += 1;
    if (offsetBytes + lengthBytes > body.length) {
      throw new ValidationError(
        `range ${offsetBytes}+${lengthBytes} is past the end of ${key} (${body.length})`,
      );
    }
    return body.subarray(offsetBytes, offsetBytes + lengthBytes);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    this.calls.list += 1;
    this.#maybeFail('list', prefix);
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys);
    for (const key of keys) {
      const o = this.objects.get(key);
      if (o) {
        const storageClass = this.archived.get(key)?.storageClass ?? 'STANDARD';
        yield { key, sizeBytes: o.body.length, lastModified: o.lastModified, storageClass };
      }
    }
  }

  /**
   * @throws ConflictError (not retryable), deleting nothing, when a key is retained (Object Lock)
   *   until after the clock's now.
   */
  async delete(keys: readonly string[]): Promise<void> {
    this.calls.delete += 1;
    for (const key of keys) this.#maybeFail('delete', key);
    const now = this.#clock.now().getTime();
    for (const key of keys) {
      const held = this.objects.has(key) ? this.retention.get(key) : undefined;
      if (held && Date.parse(held.retainUntil) > now) {
        throw new ConflictError(
          `${key} in ${this.bucket} is retained (${held.mode}) until ${held.retainUntil}: not deleted`,
        );
      }
    }
    for (const key of keys) {
      this.objects.delete(key);
      this.retention.delete(key);
      this.putOptions.delete(key);
    }
  }

  /**
   * Archive simulation: storage classes of objects moved out of STANDARD by {@link archive}. A `get`
   * of an archived object (GLACIER, DEEP_ARCHIVE) throws until its restore is `ready`, like S3's
   * InvalidObjectState.
   */
  readonly archived = new Map<string, StorageState>();
  /** Every `requestRestore` call, in order. */
  readonly restoreRequests: { key: string; tier: ArchiveTier; days: number }[] = [];

  /** Move a stored object to an archive class (test set-up). */
  archive(key: string, storageClass: 'GLACIER' | 'DEEP_ARCHIVE' | 'GLACIER_IR'): void {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    this.archived.set(key, { storageClass, restore: 'none' });
  }

  /** Finish every restore under way (what S3 does hours after `RestoreObject`). */
  completeRestores(): void {
    for (const state of this.archived.values()) if (state.restore === 'ongoing') state.restore = 'ready';
  }

  async storageStateOf(key: string): Promise<StorageState> {
    if (!this.objects.has(key)) throw new NotFoundError(`no such key ${key} in ${this.bucket}`);
    return { ...(this.archived.get(key) ?? { storageClass: 'STANDARD', restore: 'none' }) };
  }

  async requestRestore(key: string, tier: ArchiveTier, days: number): Promise<void> {
    const state = this.archived.get(key);
    if (!state || !ARCHIVE_CLASSES.has(state.storageClass)) {
      throw new ConflictError(`${key} in ${this.bucket} is not in an archive class: nothing to restore`);
    }
    this.restoreRequests.push({ key, tier, days });
    if (state.restore === 'none') state.restore = 'ongoing';
  }

  #maybeFail(op: Fault['op'], key: string): void {
    for (const fault of this.faults) {
      if (fault.op !== op || (fault.prefix && !key.startsWith(fault.prefix))) continue;
      const n = (this.#counts.get(fault) ?? 0) + 1;
      this.#counts.set(fault, n);
      if (n === fault.onCall) throw fault.error ?? new TransientError(`injected ${op} fault on ${key}`);
    }
  }
}
