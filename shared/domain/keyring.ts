/**
 * The vault's keyring: each data key is stored once, in a key document `keys/<data key id>` that
 * holds it wrapped to one or more recipients (master keys: a KMS key, a local key file, later a
 * public key), and envelopes carry only a short key reference to it. The master key can then be
 * rotated by rewriting the key documents alone, never a pack.
 *
 * - {@link KeyringKeyProvider} is the {@link KeyProvider} the {@link Envelope} is given: it issues
 *   data keys whose "wrapped" form is a key reference (`SBK1` ‖ 16-byte data key id), and unwraps
 *   a key reference by reading the key document from the vaults; any other wrapped key (an envelope
 *   written before the keyring, whose header carries the master key's wrap itself) goes to the
 *   legacy provider.
 * - {@link withKeyDocuments} wraps a vault so that every key document this process issued is stored
 *   in it before the first document it puts there (read and write ordering, rule 0).
 * - {@link rotateKeys} and {@link retireRecipient}: rotation and retirement (a copy copies the key
 *   documents with `copyKeyDocuments`, copy.ts).
 *
 * @see ../../docs/format.md#keyring
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { IntegrityError, NotFoundError, StrongboxError } from './errors.ts';
import type { Clock, DataKey, DataKeyPurpose, KeyProvider, VaultStore } from './ports.ts';

/** Version of key documents; readers refuse any other. */
export const KEY_DOCUMENT_VERSION = 1;

/** Prefix under which every key document lives. */
export const KEYS_PREFIX = 'keys/';

/** `keys/<data key id>`. */
export function keyDocumentKey(dataKeyId: string): string {
  return `${KEYS_PREFIX}${dataKeyId}`;
}

/** The data key id of a key under `keys/`, or undefined. */
export function dataKeyIdOf(key: string): string | undefined {
  return /^keys\/([0-9a-f]{32})$/.exec(key)?.[1];
}

/** Magic of a key reference: what the keyring puts in an envelope's wrapped-key field. */
const KEY_REFERENCE_MAGIC = Buffer.from('SBK1', 'ascii');
const DATA_KEY_ID_BYTES = 16;

/** The key reference of a data key: `SBK1` ‖ its 16-byte id (20 bytes). */
export function keyReferenceOf(dataKeyId: string): Buffer {
  return Buffer.concat([KEY_REFERENCE_MAGIC, Buffer.from(dataKeyId, 'hex')]);
}

/**
 * The data key id a wrapped-key field refers to, or undefined when the field is not a key
 * reference (a wrap made before the keyring: a KMS CiphertextBlob or a local `LK1` wrap).
 */
export function dataKeyIdOfReference(wrapped: Uint8Array): string | undefined {
  const buf = Buffer.from(wrapped);
  if (buf.length !== KEY_REFERENCE_MAGIC.length + DATA_KEY_ID_BYTES) return undefined;
  if (!buf.subarray(0, KEY_REFERENCE_MAGIC.length).equals(KEY_REFERENCE_MAGIC)) return undefined;
  return buf.subarray(KEY_REFERENCE_MAGIC.length).toString('hex');
}

/**
 * A master key a data key can be wrapped to. `kind` and `keyId` name it in key documents:
 * - `aws-kms`: a symmetric KMS key, `keyId` its ARN (a multi-Region key's primary ARN);
 * - `local-aes-256-gcm`: a local key file, `keyId` `sha256:<32 hex>` (a fingerprint of the key);
 * - `rsa-oaep-256`: a public key, `keyId` `sha256:<32 hex>` of its SPKI DER.
 */
export interface KeyRecipient {
  readonly kind: string;
  readonly keyId: string;
  /**
   * Wrap `plaintext` (a 32-byte data key) for this recipient, bound to `dataKeyId`.
   * @throws a retryable error when the key service is throttled or unavailable.
   */
  wrap(plaintext: Uint8Array, dataKeyId: string): Promise<Uint8Array>;
  /**
   * Unwrap what {@link wrap} returned. Absent for a recipient this process can only wrap to
   * (a public key, a KMS key it may not Decrypt with).
   * @throws IntegrityError (not retryable) when `wrapped` is not this recipient's wrap of `dataKeyId`.
   */
  unwrap?(
    wrapped: Uint8Array,
    dataKeyId: string,
    encryptionContext?: Readonly<Record<string, string>>,
  ): Promise<Uint8Array>;
  /**
   * The KMS EncryptionContext its wraps are bound to, recorded in each key document entry it makes
   * (and given back to {@link unwrap}): `{ "strongbox:vault": <vault name> }`. Absent: none.
   */
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /**
   * Issue a fresh data key and its wrap in one call (KMS GenerateDataKey), when the recipient can;
   * otherwise the keyring makes 32 random bytes and calls {@link wrap}.
   */
  generate?(dataKeyId: string): Promise<DataKey>;
}

const RecipientEntrySchema = z.object({
  kind: z.string().min(1),
  keyId: z.string().min(1),
  /** The data key wrapped for this recipient, base64. */
  wrapped: z.string().min(1),
  /** The KMS EncryptionContext the wrap is bound to (KMS recipients since contexts); absent: none. */
  encryptionContext: z.record(z.string(), z.string()).optional(),
});

/** One recipient's wrap of a data key, as stored. */
export type RecipientEntry = z.infer<typeof RecipientEntrySchema>;

const KeyDocumentSchema = z.object({
  version: z.literal(KEY_DOCUMENT_VERSION),
  type: z.literal('data-key'),
  dataKeyId: z.string().regex(/^[0-9a-f]{32}$/),
  /** ISO-8601 UTC. */
  createdAt: z.string(),
  /** What the data key seals: blobs (`content`) or every other document (`metadata`); absent: either. */
  purpose: z.enum(['content', 'metadata']).optional(),
  recipients: z.array(RecipientEntrySchema).min(1),
});

/** A key document: one data key wrapped to each of its recipients. @see docs/format.md#keyring */
export type KeyDocument = z.infer<typeof KeyDocumentSchema>;

/**
 * Parse a stored key document and check it is the one stored under `dataKeyId`.
 * @throws IntegrityError (not retryable) when it is not a key document of this version or names another id.
 */
export function parseKeyDocument(bytes: Uint8Array, dataKeyId: string): KeyDocument {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new IntegrityError(`${keyDocumentKey(dataKeyId)} is not JSON`, { cause });
  }
  const parsed = KeyDocumentSchema.safeParse(json);
  if (!parsed.success) {
    throw new IntegrityError(
      `${keyDocumentKey(dataKeyId)} is not a key document of version ${KEY_DOCUMENT_VERSION}`,
    );
  }
  if (parsed.data.dataKeyId !== dataKeyId) {
    throw new IntegrityError(`${keyDocumentKey(dataKeyId)} holds data key ${parsed.data.dataKeyId}`);
  }
  return parsed.data;
}

/** A key document's stored bytes (pretty JSON, as an operator reads it). */
export function serializeKeyDocument(doc: KeyDocument): Buffer {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
}

/** A key document's entry for `recipient`'s wrap (with the context it is bound to, if any). */
function entryOf(recipient: KeyRecipient, wrapped: Uint8Array): RecipientEntry {
  return {
    kind: recipient.kind,
    keyId: recipient.keyId,
    wrapped: Buffer.from(wrapped).toString('base64'),
    ...(recipient.encryptionContext ? { encryptionContext: { ...recipient.encryptionContext } } : {}),
  };
}

/** Whether `entry` is `recipient`'s wrap. */
function isFor(entry: { kind: string; keyId: string }, recipient: { kind: string; keyId: string }): boolean {
  return entry.kind === recipient.kind && entry.keyId === recipient.keyId;
}

/**
 * No key this process holds is a recipient of a key document: with write-only keys, a writer asked
 * to open a blob (its data key is wrapped to the readers' public key alone). Not retryable.
 */
export class NoKeyError extends IntegrityError {}

/**
 * Unwrap a key document's data key with the first of `holders` one of its recipients names.
 * @throws NoKeyError (not retryable) when no holder is a recipient; IntegrityError when every
 *   matching wrap fails.
 */
export async function unwrapKeyDocument(
  doc: KeyDocument,
  holders: readonly KeyRecipient[],
): Promise<Uint8Array> {
  let failure: unknown;
  for (const entry of doc.recipients) {
    for (const holder of holders) {
      if (!holder.unwrap || !isFor(entry, holder)) continue;
      try {
        const plaintext = await holder.unwrap(
          Buffer.from(entry.wrapped, 'base64'),
          doc.dataKeyId,
          entry.encryptionContext,
        );
        if (plaintext.length !== 32) throw new IntegrityError(`data key ${doc.dataKeyId} is not 256 bits`);
        return plaintext;
      } catch (error) {
        // A key service that is down may come back: keep that error, it is the one to report.
        if (!(error instanceof IntegrityError) || failure === undefined) failure = error;
      }
    }
  }
  if (failure !== undefined) throw failure;
  const named = doc.recipients.map((r) => `${r.kind} ${r.keyId}`).join(', ');
  throw new NoKeyError(
    `data key ${doc.dataKeyId} is wrapped to no key this process holds (its recipients: ${named})`,
  );
}

/** Options of a {@link KeyringKeyProvider}. */
export interface KeyringOptions {
  /**
   * The vaults key documents are read from, in order (the primary first, then the copies: a copy
   * region's vault serves them through the primary region's outage).
   */
  vaults: () => readonly VaultStore[];
  /**
   * Recipients every new data key is wrapped to; the first one issues it when it can
   * ({@link KeyRecipient.generate}). At least one. Resolved once, on first use (a local key file
   * is read then).
   */
  recipients: () => Promise<readonly KeyRecipient[]>;
  /**
   * Write-only keys: recipients of the data keys that seal blobs (`content`), e.g. the readers'
   * public key, instead of {@link recipients}. Absent: content keys go to {@link recipients} too.
   */
  contentRecipients?: () => Promise<readonly KeyRecipient[]>;
  /** Keys this process may unwrap with (the current master key, and any it still holds); resolved once. */
  holders: () => Promise<readonly KeyRecipient[]>;
  /** Unwraps envelopes written before the keyring (a direct wrap in the header). */
  legacy?: KeyProvider;
  clock: Clock;
  /**
   * Where data key ids and data keys come from: `size` random bytes. @default node:crypto's
   * randomBytes (a deterministic source is for the simulation alone, test/sim/keys.ts).
   */
  randomBytes?: (size: number) => Buffer;
}

/**
 * A {@link KeyProvider} over the vault's keyring. `generateDataKey` wraps a fresh data key to every
 * configured recipient and returns its key reference as the "wrapped" key (the envelope stores it
 * in its header); the key document is stored by {@link withKeyDocuments} before the first document
 * sealed with it. `unwrapDataKey` reads the key document (the first vault that has it), unwraps it
 * with a key this process holds, and keeps the plaintext for the life of the process.
 * @example
 * ```ts
 * const keyring = new KeyringKeyProvider({ vaults: () => [primary, copy], recipients: [kms], holders: [kms], legacy: kmsProvider, clock });
 * const envelope = new Envelope(keyring);
 * const vault = withKeyDocuments(primary, keyring);
 * ```
 */
export class KeyringKeyProvider implements KeyProvider {
  readonly #options: KeyringOptions;
  /** Key documents this process issued, by data key id: what {@link storeIn} writes. */
  readonly #issued = new Map<string, Buffer>();
  /** Per vault (region/bucket), the key documents known to be stored there. */
  readonly #stored = new Map<string, Map<string, Promise<void>>>();
  readonly #unwrapped = new Map<string, Promise<Uint8Array>>();
  #recipients: Promise<readonly KeyRecipient[]> | undefined;
  #holders: Promise<readonly KeyRecipient[]> | undefined;
  #contentRecipients: Promise<readonly KeyRecipient[]> | undefined;

  constructor(options: KeyringOptions) {
    this.#options = options;
  }

  /** The recipients new data keys are wrapped to. @throws StrongboxError when there is none. */
  recipients(): Promise<readonly KeyRecipient[]> {
    this.#recipients ??= this.#options.recipients().then((r) => {
      if (r.length === 0) throw new StrongboxError('a keyring needs at least one recipient');
      return r;
    });
    this.#recipients.catch(() => {
      this.#recipients = undefined;
    });
    return this.#recipients;
  }

  /** The recipients of content data keys (blobs): {@link KeyringOptions.contentRecipients}, else {@link recipients}. */
  contentRecipients(): Promise<readonly KeyRecipient[]> {
    const resolve = this.#options.contentRecipients;
    if (!resolve) return this.recipients();
    this.#contentRecipients ??= resolve().then((r) => {
      if (r.length === 0) throw new StrongboxError('write-only keys need at least one content recipient');
      return r;
    });
    this.#contentRecipients.catch(() => {
      this.#contentRecipients = undefined;
    });
    return this.#contentRecipients;
  }

  /** The keys this process may unwrap data keys with. */
  holders(): Promise<readonly KeyRecipient[]> {
    this.#holders ??= this.#options.holders();
    this.#holders.catch(() => {
      this.#holders = undefined;
    });
    return this.#holders;
  }

  async generateDataKey(purpose: DataKeyPurpose = 'metadata'): Promise<DataKey> {
    const random = this.#options.randomBytes ?? randomBytes;
    const dataKeyId = random(DATA_KEY_ID_BYTES).toString('hex');
    const [first, ...others] = (await (purpose === 'content'
      ? this.contentRecipients()
      : this.recipients())) as [KeyRecipient, ...KeyRecipient[]];
    let plaintext: Uint8Array;
    let firstWrap: Uint8Array;
    if (first.generate) {
      ({ plaintext, wrapped: firstWrap } = await first.generate(dataKeyId));
    } else {
      plaintext = random(32);
      firstWrap = await first.wrap(plaintext, dataKeyId);
    }
    const otherWraps = await Promise.all(others.map((r) => r.wrap(plaintext, dataKeyId)));
    const doc: KeyDocument = {
      version: KEY_DOCUMENT_VERSION,
      type: 'data-key',
      dataKeyId,
      createdAt: this.#options.clock.now().toISOString(),
      purpose,
      recipients: [first, ...others].map((r, i) =>
        entryOf(r, i === 0 ? firstWrap : (otherWraps[i - 1] as Uint8Array)),
      ),
    };
    this.#issued.set(dataKeyId, serializeKeyDocument(doc));
    // A content key is not kept for opening: with write-only keys this process opens no blob, even
    // one it sealed itself, unless it holds a content recipient's key (then it unwraps it as any).
    if (purpose !== 'content') this.#unwrapped.set(dataKeyId, Promise.resolve(plaintext));
    return { plaintext, wrapped: keyReferenceOf(dataKeyId) };
  }

  /**
   * @throws IntegrityError (not retryable) when the key document is in no vault, is damaged, or
   *   names no key this process holds; the legacy provider's errors for a direct wrap; a retryable
   *   error when a vault or the key service fails and may pass.
   */
  unwrapDataKey(wrapped: Uint8Array): Promise<Uint8Array> {
    const dataKeyId = dataKeyIdOfReference(wrapped);
    if (dataKeyId === undefined) {
      if (!this.#options.legacy) {
        return Promise.reject(
          new IntegrityError('the envelope holds no key reference and no legacy key is configured'),
        );
      }
      return this.#options.legacy.unwrapDataKey(wrapped);
    }
    let key = this.#unwrapped.get(dataKeyId);
    if (key === undefined) {
      key = this.#readKeyDocument(dataKeyId).then(async (doc) =>
        unwrapKeyDocument(doc, await this.holders()),
      );
      // No key to unwrap it with stays so for the process (a writer's content keys): asked once.
      key.catch((error: unknown) => {
        if (!(error instanceof NoKeyError)) this.#unwrapped.delete(dataKeyId);
      });
      this.#unwrapped.set(dataKeyId, key);
    }
    return key;
  }

  /**
   * Store in `vault` every key document this process issued and has not stored there yet (a key
   * document already there is left as it is: rotation may have added recipients to it).
   * @throws whatever the vault throws (retryable when it may pass); a later call tries again.
   */
  async storeIn(vault: VaultStore): Promise<void> {
    const where = `${vault.region}/${vault.bucket}`;
    let stored = this.#stored.get(where);
    if (!stored) {
      stored = new Map();
      this.#stored.set(where, stored);
    }
    const pending: Promise<void>[] = [];
    for (const [dataKeyId, bytes] of this.#issued) {
      let done = stored.get(dataKeyId);
      if (!done) {
        const map = stored;
        done = storeIfAbsent(vault, keyDocumentKey(dataKeyId), bytes);
        done.catch(() => map.delete(dataKeyId));
        stored.set(dataKeyId, done);
      }
      pending.push(done);
    }
    await Promise.all(pending);
  }

  async #readKeyDocument(dataKeyId: string): Promise<KeyDocument> {
    const issued = this.#issued.get(dataKeyId);
    if (issued) return parseKeyDocument(issued, dataKeyId);
    let failure: unknown;
    for (const vault of this.#options.vaults()) {
      try {
        return parseKeyDocument(await vault.get(keyDocumentKey(dataKeyId)), dataKeyId);
      } catch (error) {
        if (!(error instanceof NotFoundError) || failure === undefined) failure = error;
      }
    }
    if (failure === undefined || failure instanceof NotFoundError) {
      throw new IntegrityError(`key document ${keyDocumentKey(dataKeyId)} is in no vault`, {
        cause: failure,
      });
    }
    throw failure;
  }
}

/** Put `bytes` at `key` unless the vault holds a document there already. */
async function storeIfAbsent(vault: VaultStore, key: string, bytes: Buffer): Promise<void> {
  try {
    await vault.checksum(key);
    return;
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error;
  }
  await vault.put(key, bytes);
}

/**
 * `vault`, storing the key documents `keyring` issued before each document put into it (a key
 * document is stored before any document sealed with its data key). A Proxy: every other property
 * (the write policy, region, bucket) reads through, so `writePolicyOf` still sees the policy.
 * @example
 * ```ts
 * const vault = withKeyDocuments(withVaultPolicy(config, s3Vault, clock), keyring);
 * ```
 */
export function withKeyDocuments<V extends VaultStore>(vault: V, keyring: KeyringKeyProvider): V {
  return new Proxy(vault, {
    get(target, property, receiver) {
      if (property === 'put') {
        return async (key: string, body: Uint8Array, options?: Parameters<VaultStore['put']>[2]) => {
          if (!key.startsWith(KEYS_PREFIX)) await keyring.storeIn(target);
          return target.put(key, body, options);
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The data key ids of the key documents a vault holds, from one listing. */
export async function listKeyDocuments(vault: VaultStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const o of vault.list(KEYS_PREFIX)) {
    const id = dataKeyIdOf(o.key);
    if (id) ids.push(id);
  }
  return ids;
}

/** What a rotation or retirement did in one vault. */
export interface KeyringChange {
  region: string;
  bucket: string;
  /** Key documents the vault holds. */
  documents: number;
  /** Key documents rewritten. */
  changed: number;
  /** Key documents already as wanted (a rotation run again, or resumed). */
  unchanged: number;
}

/** A line of progress (for stderr). */
export type Progress = (line: string) => void;

/**
 * Rotation: add `to` as a recipient of the key documents of every vault that have a recipient of
 * its kind (unwrapping each data key with a key of `holders`, wrapping it to `to`), without
 * touching any other document: so rotating the symmetric key never gives it the content keys that
 * write-only keys wrap to a public key alone, and rotating the public key leaves metadata keys.
 * `all` adds `to` to every key document (e.g. an isolated account's key). Idempotent and
 * resumable: a document that already has `to` is left alone, so a run stopped halfway is run
 * again. New writes use `to` once the configuration names it as the master key.
 * @throws IntegrityError (not retryable) for a key document none of `holders` unwraps (nothing
 *   after it in that vault is rewritten; what is done stays done); a retryable error when a vault
 *   or key service fails.
 * @example
 * ```ts
 * await rotateKeys([primary, copy], { holders: [oldKey], to: newKey, progress: (l) => process.stderr.write(`${l}\n`) });
 * ```
 * @see ../../docs/format.md#keyring
 */
export async function rotateKeys(
  vaults: readonly VaultStore[],
  options: { holders: readonly KeyRecipient[]; to: KeyRecipient; all?: boolean; progress?: Progress },
): Promise<KeyringChange[]> {
  const { holders, to, all = false, progress = () => undefined } = options;
  const changes: KeyringChange[] = [];
  for (const vault of vaults) {
    const ids = await listKeyDocuments(vault);
    const change: KeyringChange = {
      region: vault.region,
      bucket: vault.bucket,
      documents: ids.length,
      changed: 0,
      unchanged: 0,
    };
    for (const [n, dataKeyId] of ids.entries()) {
      const key = keyDocumentKey(dataKeyId);
      const doc = parseKeyDocument(await vault.get(key), dataKeyId);
      if (
        doc.recipients.some((r) => isFor(r, to)) ||
        !(all || doc.recipients.some((r) => r.kind === to.kind))
      ) {
        change.unchanged += 1;
      } else {
        const plaintext = await unwrapKeyDocument(doc, holders);
        const wrapped = await to.wrap(plaintext, dataKeyId);
        const next: KeyDocument = {
          ...doc,
          recipients: [...doc.recipients, entryOf(to, wrapped)],
        };
        await vault.put(key, serializeKeyDocument(next));
        change.changed += 1;
      }
      if ((n + 1) % 100 === 0 || n + 1 === ids.length) {
        progress(
          `${vault.bucket} (${vault.region}): ${n + 1}/${ids.length} key documents, ${change.changed} rewrapped`,
        );
      }
    }
    changes.push(change);
  }
  return changes;
}

/**
 * Retirement: drop the recipient `old` (kind and key id) from every key document of every vault,
 * once every document that names it names another recipient too. Checks every document of every
 * vault first and changes nothing when one would be left with no recipient. Idempotent.
 * @throws StrongboxError (not retryable) naming the documents `old` is the only recipient of (run
 *   `keys rotate` first); a retryable error when a vault fails.
 * @see ../../docs/format.md#keyring
 */
export async function retireRecipient(
  vaults: readonly VaultStore[],
  old: { kind?: string; keyId: string },
  progress: Progress = () => undefined,
): Promise<KeyringChange[]> {
  const matches = (r: RecipientEntry) =>
    r.keyId === old.keyId && (old.kind === undefined || r.kind === old.kind);
  const plans: { vault: VaultStore; docs: KeyDocument[] }[] = [];
  const alone: string[] = [];
  for (const vault of vaults) {
    const docs: KeyDocument[] = [];
    for (const dataKeyId of await listKeyDocuments(vault)) {
      const doc = parseKeyDocument(await vault.get(keyDocumentKey(dataKeyId)), dataKeyId);
      docs.push(doc);
      if (doc.recipients.some(matches) && doc.recipients.every(matches)) {
        alone.push(`${vault.bucket}/${keyDocumentKey(dataKeyId)}`);
      }
    }
    plans.push({ vault, docs });
  }
  if (alone.length > 0) {
    throw new StrongboxError(
      `${old.keyId} is the only recipient of ${alone.length} key document(s) (${alone.slice(0, 3).join(', ')}${alone.length > 3 ? ', …' : ''}): run 'strongbox keys rotate' first; nothing was changed`,
    );
  }
  const changes: KeyringChange[] = [];
  for (const { vault, docs } of plans) {
    const change: KeyringChange = {
      region: vault.region,
      bucket: vault.bucket,
      documents: docs.length,
      changed: 0,
      unchanged: 0,
    };
    for (const doc of docs) {
      if (!doc.recipients.some(matches)) {
        change.unchanged += 1;
        continue;
      }
      const next: KeyDocument = { ...doc, recipients: doc.recipients.filter((r) => !matches(r)) };
      await vault.put(keyDocumentKey(doc.dataKeyId), serializeKeyDocument(next));
      change.changed += 1;
    }
    progress(
      `${vault.bucket} (${vault.region}): ${change.changed} of ${docs.length} key documents no longer name ${old.keyId}`,
    );
    changes.push(change);
  }
  return changes;
}
