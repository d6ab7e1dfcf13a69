/**
 * The memory twin of the ScratchSpace port: files as growing buffers, with what the disk adapter
 * checks (reads past the end, use after close) and counters a test asserts on.
 */
import { IntegrityError } from '#domain/errors.ts';
import type { ScratchFile, ScratchSpace } from '#domain/ports.ts';

class MemoryScratchFile implements ScratchFile {
  #bytes = Buffer.alloc(4096);
  #size = 0;
  #closed = false;
  readonly #space: MemoryScratchSpace;

  constructor(space: MemoryScratchSpace) {
    this.#space = space;
  }

  get sizeBytes(): number {
    return this.#size;
  }

  append(bytes: Uint8Array): number {
    this.#check();
    const at = this.#size;
    if (at + bytes.length > this.#bytes.length) {
      const grown = Buffer.alloc(Math.max(at + bytes.length, this.#bytes.length * 2));
      this.#bytes.copy(grown, 0, 0, at);
      this.#bytes = grown;
    }
    this.#bytes.set(bytes, at);
    this.#size += bytes.length;
    this.#space.appendedBytes += bytes.length;
    return at;
  }

  read(into: Uint8Array, offsetBytes: number): void {
    this.#check();
    if (offsetBytes + into.length > this.#size)
      throw new IntegrityError(
        `scratch file: ${into.length} bytes wanted at ${offsetBytes}, it holds ${this.#size}`,
      );
    into.set(this.#bytes.subarray(offsetBytes, offsetBytes + into.length));
    this.#space.reads += 1;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#space.openFiles -= 1;
    this.#bytes = Buffer.alloc(0);
  }

  #check(): void {
    if (this.#closed) throw new IntegrityError('scratch file: read or appended after close');
  }
}

export class MemoryScratchSpace implements ScratchSpace {
  /** Files opened and not closed. */
  openFiles = 0;
  appendedBytes = 0;
  reads = 0;

  open(): ScratchFile {
    this.openFiles += 1;
    return new MemoryScratchFile(this);
  }
}
