/**
 * Key providers: AWS KMS (`GenerateDataKey`/`Decrypt`) on AWS, a local key file in the embedded stack.
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetPublicKeyCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
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
  readonly #context: Readonly<Record<string, string>> | undefined;

  /**
   * @param replicas the key's replicas, asked in order when the primary cannot unwrap a key.
   * @param encryptionContext bound to every data key it generates (and so needed to unwrap it);
   *   none when absent (data keys made before contexts: docs/format.md#keyring).
   */
  constructor(
    client: KMSClient,
    keyId: string,
    replicas: readonly RegionalKey[] = [],
    encryptionContext?: Readonly<Record<string, string>>,
  ) {
    this.#client = client;
    this.#keyId = keyId;
    this.#replicas = replicas;
    this.#context = encryptionContext;
  }

  async generateDataKey(): Promise<DataKey> {
    try {
      const out = await this.#client.send(
        new GenerateDataKeyCommand({
          KeyId: this.#keyId,
          KeySpec: 'AES_256',
          ...(this.#context ? { EncryptionContext: { ...this.#context } } : {}),
        }),
      );
      if (!out.Plaintext || !out.CiphertextBlob) throw new TransientError('GenerateDataKey returned no key');
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
    } catch (error) {
      throw kmsError(error, 'GenerateDataKey');
    }
  }

  /**
   * @param encryptionContext the context the key was wrapped with (@default the provider's own;
   *   `null`: none, a data key made before contexts).
   * @throws IntegrityError (not retryable) when the key does not unwrap; else the primary's error
   *   (retryable when it is) once every replica failed too.
   */
  async unwrapDataKey(
    wrapped: Uint8Array,
    encryptionContext: Readonly<Record<string, string>> | null | undefined = this.#context,
  ): Promise<Uint8Array> {
    const context = encryptionContext ? { EncryptionContext: { ...encryptionContext } } : {};
    return decryptWithReplicas(
      [{ client: this.#client, keyId: this.#keyId }, ...this.#replicas],
      (keyId) => new DecryptCommand({ CiphertextBlob: wrapped, KeyId: keyId, ...context }),
    );
  }
}

/**
 * KMS Decrypt with the first of `keys` (a key, then its multi-Region replicas) that answers: a key
 * that does not unwrap (IntegrityError) is not asked again elsewhere; any other failure moves on.
 * @throws IntegrityError (not retryable); else the first key's error once every key failed.
 */
async function decryptWithReplicas(
  keys: readonly RegionalKey[],
  command: (keyId: string) => DecryptCommand,
): Promise<Uint8Array> {
  let first: StrongboxError | undefined;
  for (const { client, keyId } of keys) {
    try {
      const out = await client.send(command(keyId));
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
 * key id in key documents is the key's ARN. With an `encryptionContext` (`{ "strongbox:vault":
 * <vault name> }`) every wrap is bound to it, and the key document records it for the unwrap.
 */
export class KmsRecipient implements KeyRecipient {
  readonly kind = 'aws-kms';
  readonly keyId: string;
  readonly encryptionContext?: Readonly<Record<string, string>>;
  readonly #client: KMSClient;
  readonly #provider: KmsKeyProvider;

  /** @param replicas as for {@link KmsKeyProvider}. */
  constructor(
    client: KMSClient,
    keyId: string,
    replicas: readonly RegionalKey[] = [],
    encryptionContext?: Readonly<Record<string, string>>,
  ) {
    this.#client = client;
    this.keyId = keyId;
    if (encryptionContext) this.encryptionContext = encryptionContext;
    this.#provider = new KmsKeyProvider(client, keyId, replicas, encryptionContext);
  }

  generate(): Promise<DataKey> {
    return this.#provider.generateDataKey();
  }

  async wrap(plaintext: Uint8Array): Promise<Uint8Array> {
    try {
      const out = await this.#client.send(
        new EncryptCommand({
          KeyId: this.keyId,
          Plaintext: plaintext,
          ...(this.encryptionContext ? { EncryptionContext: { ...this.encryptionContext } } : {}),
        }),
      );
      if (!out.CiphertextBlob) throw new TransientError('KMS Encrypt returned no ciphertext');
      return out.CiphertextBlob;
    } catch (error) {
      throw kmsError(error, 'Encrypt');
    }
  }

  /** With the context the key document recorded for this wrap: none for a data key made before contexts. */
  unwrap(
    wrapped: Uint8Array,
    _dataKeyId: string,
    encryptionContext?: Readonly<Record<string, string>>,
  ): Promise<Uint8Array> {
    return this.#provider.unwrapDataKey(wrapped, encryptionContext ?? null);
  }
}

/** RSA-OAEP with SHA-256 (and MGF1 SHA-256, no label): what KMS's RSAES_OAEP_SHA_256 decrypts. */
function oaepEncrypt(publicKey: KeyObject, plaintext: Uint8Array): Buffer {
  return publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    plaintext,
  );
}

/** The key id of a public key in key documents: `sha256:` and 32 hex digits of its SPKI DER's SHA-256. */
export function publicKeyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex').slice(0, 32)}`;
}

/**
 * A keyring recipient that is an RSA key pair (write-only keys, docs/format.md#keyring): anyone with
 * the public key wraps a data key to it (RSA-OAEP, SHA-256); only the holder of the private key
 * unwraps. The writers of the embedded stack get the public key alone, so they seal blobs they
 * cannot open again; restore, verify, drills and browse get the private key too.
 * @example
 * ```ts
 * const writer = await RsaOaepRecipient.fromFiles('content.pub.pem');
 * const reader = await RsaOaepRecipient.fromFiles('content.pub.pem', 'content.key.pem');
 * ```
 */
export class RsaOaepRecipient implements KeyRecipient {
  readonly kind = 'rsa-oaep-256';
  readonly keyId: string;
  readonly #publicKey: KeyObject;
  readonly #privateKey: KeyObject | undefined;
  readonly unwrap?: (wrapped: Uint8Array, dataKeyId: string) => Promise<Uint8Array>;

  constructor(publicKey: KeyObject, privateKey?: KeyObject) {
    if (publicKey.asymmetricKeyType !== 'rsa') throw new StrongboxError('a content key is an RSA key');
    this.#publicKey = publicKey;
    this.#privateKey = privateKey;
    this.keyId = publicKeyIdOf(publicKey);
    if (privateKey) this.unwrap = (wrapped, dataKeyId) => this.#unwrap(wrapped, dataKeyId);
  }

  /** The recipient of a PEM public key file, with its private key file when given (a reader). */
  static async fromFiles(publicKeyFile: string, privateKeyFile?: string): Promise<RsaOaepRecipient> {
    const publicKey = createPublicKey(await readFile(publicKeyFile, 'utf8'));
    const privateKey = privateKeyFile ? createPrivateKey(await readFile(privateKeyFile, 'utf8')) : undefined;
    return new RsaOaepRecipient(publicKey, privateKey);
  }

  /**
   * The recipient of a PEM private key file (its public key derived from it): an isolated vault's
   * escrow key held by an operator restoring without this deployment's keys.
   */
  static async fromPrivateKeyFile(privateKeyFile: string): Promise<RsaOaepRecipient> {
    const privateKey = createPrivateKey(await readFile(privateKeyFile, 'utf8'));
    return new RsaOaepRecipient(createPublicKey(privateKey), privateKey);
  }

  async wrap(plaintext: Uint8Array): Promise<Uint8Array> {
    return oaepEncrypt(this.#publicKey, plaintext);
  }

  async #unwrap(wrapped: Uint8Array, dataKeyId: string): Promise<Uint8Array> {
    try {
      return privateDecrypt(
        { key: this.#privateKey as KeyObject, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrapped,
      );
    } catch (cause) {
      throw new IntegrityError(`data key ${dataKeyId} was not wrapped to content key ${this.keyId}`, {
        cause,
      });
    }
  }
}

/**
 * Make the embedded stack's content key pair when it does not exist: `publicKeyFile` (SPKI PEM) and
 * `privateKeyFile` (PKCS#8 PEM, mode 0600), RSA 4096 as on AWS. Idempotent.
 */
export async function ensureContentKeyPair(publicKeyFile: string, privateKeyFile: string): Promise<void> {
  try {
    await readFile(publicKeyFile);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { publicKey, privateKey } = await new Promise<{ publicKey: string; privateKey: string }>((ok, fail) =>
    generateKeyPair(
      'rsa',
      {
        modulusLength: 4096,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (error, pub, priv) => (error ? fail(error) : ok({ publicKey: pub, privateKey: priv })),
    ),
  );
  await mkdir(dirname(privateKeyFile), { recursive: true });
  await writeFile(privateKeyFile, privateKey, { mode: 0o600 });
  await writeFile(publicKeyFile, publicKey, { mode: 0o644 });
}

/**
 * A keyring recipient that is a KMS asymmetric key (`RSA_4096`, `ENCRYPT_DECRYPT`): writers wrap
 * locally with its public key (kms:GetPublicKey once per process, or given), which needs no
 * decrypt permission; readers unwrap with kms:Decrypt, `RSAES_OAEP_SHA_256`, which the key policy
 * grants to restore, restoreWorker, verify, drill and browse alone. Key id: the key's ARN.
 */
export class KmsRsaRecipient implements KeyRecipient {
  readonly kind = 'aws-kms-rsa-oaep-256';
  readonly keyId: string;
  readonly #client: KMSClient;
  readonly #replicas: readonly RegionalKey[];
  #publicKey: Promise<KeyObject> | undefined;

  /**
   * @param publicKeyDer the key's public key (SPKI DER) when known; else fetched with GetPublicKey.
   * @param replicas the multi-Region key's replicas (deploy/copy-vault.yml), asked in order when the
   *   primary region's KMS cannot unwrap (unavailable, throttled, refused), as {@link KmsKeyProvider}
   *   does: blobs stay readable in a copy region through the primary region's outage.
   */
  constructor(
    client: KMSClient,
    keyId: string,
    publicKeyDer?: Uint8Array,
    replicas: readonly RegionalKey[] = [],
  ) {
    this.#client = client;
    this.keyId = keyId;
    this.#replicas = replicas;
    if (publicKeyDer)
      this.#publicKey = Promise.resolve(
        createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' }),
      );
  }

  async wrap(plaintext: Uint8Array): Promise<Uint8Array> {
    return oaepEncrypt(await this.#public(), plaintext);
  }

  /**
   * @throws IntegrityError (not retryable) when the key does not unwrap; else the primary's error
   *   (retryable when it is) once every replica failed too.
   */
  async unwrap(wrapped: Uint8Array): Promise<Uint8Array> {
    return decryptWithReplicas(
      [{ client: this.#client, keyId: this.keyId }, ...this.#replicas],
      (keyId) =>
        new DecryptCommand({
          CiphertextBlob: wrapped,
          KeyId: keyId,
          EncryptionAlgorithm: 'RSAES_OAEP_SHA_256',
        }),
    );
  }

  #public(): Promise<KeyObject> {
    this.#publicKey ??= this.#client
      .send(new GetPublicKeyCommand({ KeyId: this.keyId }))
      .then((out) => {
        if (!out.PublicKey) throw new TransientError('KMS GetPublicKey returned no key');
        return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
      })
      .catch((error: unknown) => {
        this.#publicKey = undefined;
        throw kmsError(error, 'GetPublicKey');
      });
    return this.#publicKey;
  }
}
