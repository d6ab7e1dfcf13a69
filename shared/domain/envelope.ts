/**
 * The encrypted envelope every blob and manifest is stored in: zstd compression (skipped when it
 * does not shrink the data), then AES-256-GCM under a data key that a {@link KeyProvider} wraps.
 *
 * ```
 * offset   size  field
 * 0        4     magic "SBX1"
 * 4        1     format version (1)
 * 5        1     compression: 0 = none, 1 = zstd
 * 6        2     length L of the wrapped data key, unsigned big-endian
 * 8        L     wrapped data key (opaque to Strongbox: what the key provider returned)
 * 8+L      12    nonce
 * 20+L     n     ciphertext
 * end-16   16    GCM authentication tag
 * ```
 * The additional authenticated data is the header (bytes 0 to 20+L) followed by the document's
 * associated data (its address), so a document cannot be moved to another address undetected.
 *
 * @see ../../docs/format.md#encrypted-envelope
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { constants, zstdCompress, zstdCompressSync, zstdDecompress, zstdDecompressSync } from 'node:zlib';
import pLimit from 'p-limit';
import { IntegrityError } from './errors.ts';
import type { DataKeyPurpose, KeyProvider } from './ports.ts';
import { blobAssociatedData, VAULT_FORMAT_VERSION } from './vault.ts';

const MAGIC = Buffer.from('SBX1', 'ascii');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const COMPRESSION_NONE = 0;
const COMPRESSION_ZSTD = 1;
const compressAsync = promisify(zstdCompress);
/** Associated data of a blob starts so (`strongbox:blob:<blob id>`): its data key seals content. */
const BLOB_ASSOCIATED_DATA_PREFIX = blobAssociatedData('');
const decompressAsync = promisify(zstdDecompress);

/**
 * Inputs up to this size are (de)compressed on the calling thread. The async zlib functions set up
 * a stream and a zstd context and hop to the libuv thread pool for each call: for a typical small
 * blob (10–20 KB) that costs about ten times the compression itself, all of it on the main thread.
 * Larger inputs (up to a chunk, 8 MiB: ~25 ms at level 3) go to the thread pool, so one large blob
 * does not stall the event loop. Both paths produce standard zstd frames; either opens the other's.
 */
export const ZSTD_SYNC_MAX_BYTES = 256 * 1024;

/**
 * Output buffer of a thread-pool (de)compression: each filled buffer is one round trip to the main
 * thread, and zlib's default (16 KiB) made decompressing an 8 MiB chunk ~500 of them (4× the time).
 */
const ASYNC_CHUNK_BYTES = 1024 * 1024;

/**
 * Thread-pool (de)compressions in flight at once, per process. Each one holds a zstd context (about
 * 2.5 MB) and its output buffers from the moment it is started, yet libuv runs only 4 at a time
 * (its default pool), so more in flight gains nothing and costs memory: GC reading 16 manifest
 * parts and index documents at once held 29 decompressions and about 275 MB of ArrayBuffers
 * (docs/scale.md). Calls past this limit wait, holding only their input.
 */
export const ZSTD_THREAD_POOL_IN_FLIGHT = 4;
const threadPool = pLimit(ZSTD_THREAD_POOL_IN_FLIGHT);

/** zstd-compress `data` at `level` (synchronously when small, see {@link ZSTD_SYNC_MAX_BYTES}). */
async function compress(data: Uint8Array, level: number): Promise<Buffer> {
  const params = { [constants.ZSTD_c_compressionLevel]: level };
  return data.length <= ZSTD_SYNC_MAX_BYTES
    ? zstdCompressSync(data, { params })
    : threadPool(() => compressAsync(data, { params, chunkSize: ASYNC_CHUNK_BYTES }));
}

/**
 * Decompress a zstd frame: synchronously when the compressed input is at most a quarter of
 * {@link ZSTD_SYNC_MAX_BYTES} (its output is then small too, for what blobs hold), otherwise on the
 * thread pool, at most {@link ZSTD_THREAD_POOL_IN_FLIGHT} at once.
 */
async function decompress(data: Buffer): Promise<Buffer> {
  return data.length <= ZSTD_SYNC_MAX_BYTES / 4
    ? zstdDecompressSync(data)
    : threadPool(() => decompressAsync(data, { chunkSize: ASYNC_CHUNK_BYTES }));
}

/** Options of an {@link Envelope}. */
export interface EnvelopeOptions {
  /** zstd level. @default 3 */
  zstdLevel?: number;
  /** How many documents one data key seals before a new one is generated. @default 100000 */
  documentsPerDataKey?: number;
}

/**
 * Seals and opens documents. Holds one data key at a time per purpose (generated on first use): one
 * for blobs (`content`), one for every other document (`metadata`), so that with write-only keys a
 * writer's blobs are sealed under keys it cannot unwrap again (docs/format.md#keyring). Keeps a
 * cache of unwrapped keys, so a task asks the key provider once, not once per blob.
 *
 * @example
 * ```ts
 * const envelope = new Envelope(keyProvider);
 * const sealed = await envelope.seal(bytes, blobAssociatedData(blobId));
 * const opened = await envelope.open(sealed, blobAssociatedData(blobId)); // equals bytes
 * ```
 */
export class Envelope {
  readonly #keys: KeyProvider;
  readonly #level: number;
  readonly #perKey: number;
  readonly #current = new Map<
    DataKeyPurpose,
    { key: Promise<{ secret: KeyObject; wrapped: Buffer }>; sealed: number }
  >();
  readonly #unwrapped = new Map<string, Promise<KeyObject>>();

  constructor(keys: KeyProvider, options: EnvelopeOptions = {}) {
    this.#keys = keys;
    this.#level = options.zstdLevel ?? 3;
    this.#perKey = options.documentsPerDataKey ?? 100_000;
  }

  /**
   * Compress (when it helps) and encrypt `plaintext`, binding `associatedData` (the address).
   * @returns the sealed envelope bytes.
   * @throws whatever the key provider throws when it cannot generate a key (retryable when transient).
   */
  async seal(plaintext: Uint8Array, associatedData: string): Promise<Buffer> {
    const key = await this.#dataKey(
      associatedData.startsWith(BLOB_ASSOCIATED_DATA_PREFIX) ? 'content' : 'metadata',
    );
    const compressed = await compress(plaintext, this.#level);
    const useZstd = compressed.length < plaintext.length;
    const body = useZstd ? compressed : plaintext;
    const header = Buffer.alloc(8 + key.wrapped.length + NONCE_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt8(VAULT_FORMAT_VERSION, 4);
    header.writeUInt8(useZstd ? COMPRESSION_ZSTD : COMPRESSION_NONE, 5);
    header.writeUInt16BE(key.wrapped.length, 6);
    key.wrapped.copy(header, 8);
    randomBytes(NONCE_BYTES).copy(header, 8 + key.wrapped.length);
    const nonce = header.subarray(8 + key.wrapped.length);
    const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
    cipher.setAAD(Buffer.concat([header, Buffer.from(associatedData, 'utf8')]));
    const ciphertext = Buffer.concat([cipher.update(body), cipher.final()]);
    return Buffer.concat([header, ciphertext, cipher.getAuthTag()]);
  }

  /**
   * Decrypt and decompress a sealed envelope.
   * @throws IntegrityError (not retryable) when the bytes are not an envelope of this version, or
   *   fail authentication (tampered, truncated, or stored under another address).
   */
  async open(sealed: Uint8Array, associatedData: string): Promise<Buffer> {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (buf.length < 8 + NONCE_BYTES + TAG_BYTES || !buf.subarray(0, 4).equals(MAGIC)) {
      throw new IntegrityError(`not a Strongbox envelope (${associatedData})`);
    }
    const version = buf.readUInt8(4);
    if (version !== VAULT_FORMAT_VERSION) {
      throw new IntegrityError(`envelope version ${version} is not supported (${associatedData})`);
    }
    const compression = buf.readUInt8(5);
    const wrappedLength = buf.readUInt16BE(6);
    const headerLength = 8 + wrappedLength + NONCE_BYTES;
    if (buf.length < headerLength + TAG_BYTES)
      throw new IntegrityError(`truncated envelope (${associatedData})`);
    const wrapped = buf.subarray(8, 8 + wrappedLength);
    const nonce = buf.subarray(8 + wrappedLength, headerLength);
    const key = await this.#unwrap(wrapped);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(Buffer.concat([buf.subarray(0, headerLength), Buffer.from(associatedData, 'utf8')]));
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
    let body: Buffer;
    try {
      body = Buffer.concat([
        decipher.update(buf.subarray(headerLength, buf.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (cause) {
      throw new IntegrityError(`envelope failed authentication (${associatedData})`, { cause });
    }
    if (compression === COMPRESSION_NONE) return body;
    if (compression === COMPRESSION_ZSTD) return decompress(body);
    throw new IntegrityError(`unknown compression ${compression} (${associatedData})`);
  }

  /**
   * Keys are held as KeyObjects, made once per data key: given a Buffer, every createCipheriv and
   * createDecipheriv makes one again (on Node 24, ~15 µs each: more than the rest of sealing a small
   * blob, 6–9 µs).
   */
  #dataKey(purpose: DataKeyPurpose): Promise<{ secret: KeyObject; wrapped: Buffer }> {
    let current = this.#current.get(purpose);
    if (current === undefined || current.sealed >= this.#perKey) {
      const key = this.#keys.generateDataKey(purpose).then((k) => ({
        secret: createSecretKey(Buffer.from(k.plaintext)),
        wrapped: Buffer.from(k.wrapped),
      }));
      const made = { key, sealed: 0 };
      // A failed generation must not poison later calls.
      key.catch(() => {
        if (this.#current.get(purpose) === made) this.#current.delete(purpose);
      });
      this.#current.set(purpose, made);
      current = made;
    }
    current.sealed += 1;
    return current.key;
  }

  #unwrap(wrapped: Buffer): Promise<KeyObject> {
    const id = wrapped.toString('base64');
    let key = this.#unwrapped.get(id);
    if (key === undefined) {
      key = this.#keys.unwrapDataKey(wrapped).then((k) => createSecretKey(Buffer.from(k)));
      key.catch(() => this.#unwrapped.delete(id));
      this.#unwrapped.set(id, key);
    }
    return key;
  }
}
