/**
 * Key providers: AWS KMS (`GenerateDataKey`/`Decrypt`) on AWS, a local key file in the embedded stack.
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DecryptCommand, EncryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { IntegrityError, StrongboxError, TransientError } from '#domain/errors.ts';
import type { KeyRecipient } from '#domain/keyring.ts';
import type { DataKey, KeyProvider } from '#domain/ports.ts';

/** A KMS key in one region, and a client of that region's KMS. */
export interface RegionalKey {
  client: KMSClient;
  /** The key's ARN in that region. */
  keyId: string;
}

/**
 * The ARN of the multi-Region key `keyArn`'s replica in `region` (same key id, another region), or
 * undefined when `keyArn` is not the ARN of a multi-Region key (`mrk-…`).
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
 */
export function replicaKeyArn(keyArn: string, region: string): string | undefined {
  const match = /^arn:(aws[a-z-]*):kms:[a-z0-9-]+:(\d{12}):key\/(mrk-[0-9a-f]{32})$/.exec(keyArn);
  return match ? `arn:${match[1]}:kms:${region}:${match[2]}:key/${match[3]}` : undefined;
}

/**
 * Data keys from AWS KMS under one customer-managed key. The wrapped key is KMS's CiphertextBlob.
 * A multi-Region key's replicas can unwrap what the primary wrapped: when the primary region's KMS
 * fails to unwrap a key (unavailable, throttled, refused), each replica is asked in turn, so a copy
 * region's vault stays readable through the primary region's outage. A key that does not unwrap
 * (IntegrityError) is not asked again.
 * @example
 * ```ts
 * const keys = new KmsKeyProvider(new KMSClient({ region: 'us-east-1' }), 'arn:aws:kms:us-east-1:111122223333:key/mrk-…', [
 *   { client: new KMSClient({ region: 'eu-west-1' }), keyId: 'arn:aws:kms:eu-west-1:111122223333:key/mrk-…' },
 * ]);
 * ```
 */
export class KmsKeyProvider implements KeyProvider {
  readonly #client: KMSClient;
  readonly #keyId: string;
  readonly #replicas: readonly RegionalKey[];

  /** @param replicas the key's replicas, asked in order when the primary cannot unwrap a key. */
  constructor(client: KMSClient, keyId: string, replicas: readonly RegionalKey[] = []) {
    this.#client = client;
    this.#keyId = keyId;
    this.#replicas = replicas;
  }

  async generateDataKey(): Promise<DataKey> {
    try {
      const out = await this.#client.send(
        new GenerateDataKeyCommand({ KeyId: this.#keyId, KeySpec: 'AES_256' }),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw new TransientError('GenerateDataKey returned no key');
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
    } catch (error) {
      throw kmsError(error, 'GenerateDataKey');
    }
  }

  /**
   * @throws IntegrityError (not retryable) when the key does not unwrap; else the primary's error
   *   (retryable when it is) once every replica failed too.
   */
  async unwrapDataKey(wrapped: Uint8Array): Promise<Uint8Array> {
    let first: StrongboxError | undefined;
    for (const { client, keyId } of [{ client: this.#client, keyId: this.#keyId }, ...this.#replicas]) {
      try {
        const out = await client.send(new DecryptCommand({ CiphertextBlob: wrapped, KeyId: keyId }));
        if (!out.Plaintext) throw new IntegrityError('KMS Decrypt returned no plaintext');
        return out.Plaintext;
      } catch (error) {
        const failure = kmsError(error, 'Decrypt');
        if (failure instanceof IntegrityError) throw failure;
        first ??= failure;
      }
    }
    throw first as StrongboxError;
  }
}

function kmsError(error: unknown, op: string): StrongboxError {
  if (error instanceof StrongboxError) return error;
  const name = (error as { name?: string }).name ?? 'Error';
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return new IntegrityError(`KMS ${op}: ${name}`, { cause: error });
  }
  if (name === 'AccessDeniedException' || name === 'NotFoundException' || name === 'DisabledException') {
    return new StrongboxError(`KMS ${op}: ${name}`, { cause: error, retryable: false });
  }
  return new TransientError(`KMS ${op}: ${name}`, { cause: error });
}

/**
 * Wraps data keys with AES-256-GCM under a 256-bit master key held by this process. Used for the
 * embedded stack (see {@link localKeyFileProvider}) and tests; on AWS use {@link KmsKeyProvider}.
 */
export class MasterKeyProvider implements KeyProvider {
  readonly #loadMaster: () => Promise<Buffer>;
  readonly #label: string;
  #master: Promise<Buffer> | undefined;

  /**
   * @param loadMaster returns the 32-byte master key; called once.
   * @param label names the key's home in error messages, e.g. the key file's path.
   */
  constructor(loadMaster: () => Promise<Buffer>, label: string) {
    this.#loadMaster = loadMaster;
    this.#label = label;
  }

  async generateDataKey(): Promise<DataKey> {
    const master = await this.#load();
    const plaintext = randomBytes(32);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', master, nonce);
    const wrapped = Buffer.concat([
      Buffer.from('LK1'),
      nonce,
      cipher.update(plaintext),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return { plaintext, wrapped };
  }

  async unwrapDataKey(wrapped: Uint8Array): Promise<Uint8Array> {
    const master = await this.#load();
    const buf = Buffer.from(wrapped);
    if (buf.length !== 3 + 12 + 32 + 16 || buf.subarray(0, 3).toString() !== 'LK1') {
      throw new IntegrityError('wrapped data key is not from a local master key');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', master, buf.subarray(3, 15));
      decipher.setAuthTag(buf.subarray(buf.length - 16));
      return Buffer.concat([decipher.update(buf.subarray(15, buf.length - 16)), decipher.final()]);
    } catch (cause) {
      throw new IntegrityError(`data key was not wrapped by the key in ${this.#label}`, { cause });
    }
  }

  #load(): Promise<Buffer> {
    this.#master ??= this.#loadMaster().then((key) => {
      if (key.length !== 32) throw new StrongboxError(`${this.#label} does not hold a 256-bit key`);
      return key;
    });
    return this.#master;
  }
}

/**
 * A {@link MasterKeyProvider} whose master key lives in a local file (base64, mode 0600), created
 * with 32 random bytes on first use. For the embedded stack only.
 * @example
 * ```ts
 * const keys = localKeyFileProvider('.strongbox/master.key');
 * ```
 */
export function localKeyFileProvider(path: string): MasterKeyProvider {
  return new MasterKeyProvider(() => readLocalKeyFile(path), path);
}

/**
 * The 32-byte master key in a local key file (base64), the file created (mode 0600) with 32 random
 * bytes when it does not exist yet.
 * @throws StrongboxError (not retryable) when the file does not hold a 256-bit key.
 */
export async function readLocalKeyFile(path: string): Promise<Buffer> {
  const key = await (async () => {
    try {
      return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch(
        (e) => {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        },
      );
      return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
    }
  })();
  if (key.length !== 32) throw new StrongboxError(`${path} does not hold a 256-bit key`);
  return key;
}

/** The associated data a keyring wrap of data key `dataKeyId` is bound to. */
function dataKeyAssociatedData(dataKeyId: string): Buffer {
  return Buffer.from(`strongbox:data-key:${dataKeyId}`, 'utf8');
}

/**
 * A keyring recipient (docs/format.md#keyring) that is a local 256-bit master key: a data key is
 * wrapped with AES-256-GCM, bound to its data key id (`nonce ‖ ciphertext ‖ tag`, 60 bytes). Its
 * key id is `sha256:` and 32 hex digits of the SHA-256 of `strongbox:key-fingerprint:` ‖ the key:
 * it names the key without revealing it.
 * @example
 * ```ts
 * const recipient = await LocalKeyRecipient.fromFile('.strongbox/data/master.key');
 * ```
 */
export class LocalKeyRecipient implements KeyRecipient {
  readonly kind = 'local-aes-256-gcm';
  readonly keyId: string;
  readonly #master: Buffer;

  /** @param master the 32-byte master key. */
  constructor(master: Uint8Array) {
    if (master.length !== 32) throw new StrongboxError('a local master key is 32 bytes');
    this.#master = Buffer.from(master);
    this.keyId = localKeyIdOf(this.#master);
  }

  /** The recipient of the key in `path` (created when missing, as {@link localKeyFileProvider} does). */
  static async fromFile(path: string): Promise<LocalKeyRecipient> {
    return new LocalKeyRecipient(await readLocalKeyFile(path));
  }

  async wrap(plaintext: Uint8Array, dataKeyId: string): Promise<Uint8Array> {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#master, nonce);
    cipher.setAAD(dataKeyAssociatedData(dataKeyId));
    return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  }

  async unwrap(wrapped: Uint8Array, dataKeyId: string): Promise<Uint8Array> {
    const buf = Buffer.from(wrapped);
    if (buf.length !== 12 + 32 + 16)
      throw new IntegrityError(`wrap of data key ${dataKeyId} is not 60 bytes`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#master, buf.subarray(0, 12));
      decipher.setAAD(dataKeyAssociatedData(dataKeyId));
      decipher.setAuthTag(buf.subarray(buf.length - 16));
      return Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
    } catch (cause) {
      throw new IntegrityError(`data key ${dataKeyId} was not wrapped by local key ${this.keyId}`, { cause });
    }
  }
}

/** The key id of a local master key: `sha256:` and 32 hex digits (see {@link LocalKeyRecipient}). */
export function localKeyIdOf(master: Uint8Array): string {
  const digest = createHash('sha256').update('strongbox:key-fingerprint:').update(master).digest('hex');
  return `sha256:${digest.slice(0, 32)}`;
}

/**
 * A keyring recipient that is a symmetric KMS key: new data keys come from GenerateDataKey, another
 * recipient's data key is wrapped with Encrypt (rotation), and unwrapping is Decrypt through the
 * {@link KmsKeyProvider} (so a multi-Region key's replicas are asked when the primary fails). Its
 * key id in key documents is the key's ARN.
 */
export class KmsRecipient implements KeyRecipient {
  readonly kind = 'aws-kms';
  readonly keyId: string;
  readonly #client: KMSClient;
  readonly #provider: KmsKeyProvider;

  /** @param replicas as for {@link KmsKeyProvider}. */
  constructor(client: KMSClient, keyId: string, replicas: readonly RegionalKey[] = []) {
    this.#client = client;
    this.keyId = keyId;
    this.#provider = new KmsKeyProvider(client, keyId, replicas);
  }

  generate(): Promise<DataKey> {
    return this.#provider.generateDataKey();
  }

  async wrap(plaintext: Uint8Array): Promise<Uint8Array> {
    try {
      const out = await this.#client.send(new EncryptCommand({ KeyId: this.keyId, Plaintext: plaintext }));
      if (!out.CiphertextBlob) throw new TransientError('KMS Encrypt returned no ciphertext');
      return out.CiphertextBlob;
    } catch (error) {
      throw kmsError(error, 'Encrypt');
    }
  }

  unwrap(wrapped: Uint8Array): Promise<Uint8Array> {
    return this.#provider.unwrapDataKey(wrapped);
  }
}
