import type { PartRef } from '#domain/vault.ts';

/**
 * Bytes of part refs (as UTF-8 JSON, an upper bound of DynamoDB's size of the list) per checkpoint
 * chunk item: well under DynamoDB's 400 KB item limit.
 */
export const CHECKPOINT_CHUNK_BYTES = 256 * 1024;

/** Part refs in order, cut into chunks of at most {@link CHECKPOINT_CHUNK_BYTES}. */
export function chunksOf(parts: readonly PartRef[]): PartRef[][] {
  const chunks: PartRef[][] = [];
  let chunk: PartRef[] = [];
  let bytes = 0;
  for (const ref of parts) {
    const size = Buffer.byteLength(JSON.stringify(ref)) + 1;
    if (chunk.length > 0 && bytes + size > CHECKPOINT_CHUNK_BYTES) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(ref);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}
