/**
 * Key providers: AWS KMS (`GenerateDataKey`/`Decrypt`) on AWS, a local key file in the embedded stack.
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { IntegrityError, StrongboxError, TransientError } from '#domain/errors.ts';
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
  return new MasterKeyProvider(async () => {
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
  }, path);
}
