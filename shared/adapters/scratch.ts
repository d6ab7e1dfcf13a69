/**
 * The ScratchSpace port on local disk: files in a directory of their own under the OS's temporary
 * directory (Lambda's `/tmp`, its ephemeral storage). Each file is unlinked as soon as it is opened,
 * so its space is freed when it is closed or the process ends, whichever comes first: a crashed or
 * frozen invocation leaves nothing behind for the next one to trip over.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html
 */
import { closeSync, mkdtempSync, openSync, readSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError } from '#domain/errors.ts';
import type { ScratchFile, ScratchSpace } from '#domain/ports.ts';

class DiskScratchFile implements ScratchFile {
  #fd: number | undefined;
  #size = 0;

  constructor(path: string) {
    this.#fd = openSync(path, 'w+', 0o600);
    unlinkSync(path);
  }

  get sizeBytes(): number {
    return this.#size;
  }

  append(bytes: Uint8Array): number {
    const fd = this.#handle();
    const at = this.#size;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, at + done);
    this.#size += bytes.length;
    return at;
  }

  read(into: Uint8Array, offsetBytes: number): void {
    const fd = this.#handle();
    let done = 0;
    while (done < into.length) {
      const n = readSync(fd, into, done, into.length - done, offsetBytes + done);
      if (n === 0)
        throw new IntegrityError(
          `scratch file: ${into.length} bytes wanted at ${offsetBytes}, the file ends at ${offsetBytes + done}`,
        );
      done += n;
    }
  }

  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #handle(): number {
    if (this.#fd === undefined) throw new IntegrityError('scratch file: read or appended after close');
    return this.#fd;
  }
}

/**
 * Scratch files on local disk.
 * @example
 * ```ts
 * const scratch = new DiskScratchSpace(); // under os.tmpdir(): /tmp in Lambda
 * const file = scratch.open();
 * file.append(Buffer.from('rows'));
 * file.close();
 * ```
 */
export class DiskScratchSpace implements ScratchSpace {
  readonly #parent: string;
  #files = 0;

  /** @param parent the directory to make this space's own directory in. @default os.tmpdir() */
  constructor(parent: string = tmpdir()) {
    this.#parent = parent;
  }

  open(): ScratchFile {
    // A directory per file, made and removed at once: the file itself is unlinked on open.
    const dir = mkdtempSync(join(this.#parent, 'strongbox-scratch-'));
    try {
      return new DiskScratchFile(join(dir, `${this.#files++}`));
    } finally {
      rmdirSync(dir);
    }
  }
}
