/**
 * The demo's corpus: the files of a directory tree, uploaded as objects of the protected bucket,
 * and the deterministic changes made to them between two snapshots (the bench uses them too).
 */

import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import pLimit from 'p-limit';
import type { LocalStack } from '../stack.ts';

/** A file of a backed-up tree and the object it becomes. */
export interface CorpusFile {
  key: string;
  path: string;
  sizeBytes: number;
  /** SHA-256 of the bytes uploaded (the file as it was when it was backed up). */
  sha256?: string;
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Every regular file below `root` (symbolic links are skipped), keyed by its relative path. */
export async function walk(root: string, limit: number): Promise<CorpusFile[]> {
  const files: CorpusFile[] = [];
  const visit = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      if (files.length >= limit) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) {
        files.push({
          key: relative(root, path).split(sep).join('/'),
          path,
          sizeBytes: (await stat(path)).size,
        });
      }
    }
  };
  await visit(root);
  return files;
}

/** The bucket the demo backs up: the first one whose uploads reach capture (a protected bucket). */
export function sourceBucketOf(stack: Pick<LocalStack, 'serverless'>): string {
  return String(
    Object.values(stack.serverless.functions).flatMap((f) =>
      f.events.flatMap((e) => (e.s3 ? [e.s3.bucket] : [])),
    )[0],
  );
}

/**
 * Upload every file as its key, `concurrency` at a time, recording each file's SHA-256 and size as
 * uploaded (the bytes a restore must give back).
 */
export async function uploadFiles(
  s3: S3Client,
  bucket: string,
  files: CorpusFile[],
  concurrency: number,
  onUploaded: (f: CorpusFile) => void = () => {},
): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all(
    files.map((f) =>
      limit(async () => {
        const body = await readFile(f.path);
        f.sha256 = sha256(body);
        f.sizeBytes = body.length;
        await put(s3, bucket, f.key, body, contentTypeOf(f.key));
        onUploaded(f);
      }),
    ),
  );
}

/** What the demo changes between its two snapshots: 1% modified, 0.5% added, 0.5% deleted. */
export interface ChangeSet<F extends CorpusFile = CorpusFile> {
  /** Files whose object gets {@link modifiedBody}. */
  modified: F[];
  /** New objects: a copy of an existing file under `added/<key>` (same bytes: a duplicate). */
  added: F[];
  /** Objects deleted. */
  deleted: F[];
}

/** The demo's deterministic choice of changes (by position in the sorted walk). */
export function pickChanges<F extends CorpusFile>(files: F[]): ChangeSet<F> {
  return {
    modified: files.filter((_, i) => i % 100 === 7),
    added: files.filter((_, i) => i % 200 === 5).map((f) => ({ ...f, key: `added/${f.key}` })),
    deleted: files.filter((_, i) => i % 200 === 3),
  };
}

/** The new content of a modified object: the original with a line appended. */
export function modifiedBody(original: Buffer): Buffer {
  return Buffer.concat([original, Buffer.from('\n// changed by the demo\n')]);
}

/** Apply a change set to a bucket, `concurrency` requests at a time. */
export async function applyChanges(
  s3: S3Client,
  bucket: string,
  changes: ChangeSet,
  concurrency: number,
): Promise<void> {
  const limit = pLimit(concurrency);
  await Promise.all([
    ...changes.modified.map((f) =>
      limit(async () => put(s3, bucket, f.key, modifiedBody(await readFile(f.path)))),
    ),
    ...changes.added.map((f) => limit(async () => put(s3, bucket, f.key, await readFile(f.path)))),
    ...changes.deleted.map((f) =>
      limit(() => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: f.key }))),
    ),
  ]);
}

export async function put(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  contentType?: string,
): Promise<void> {
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ...(contentType ? { ContentType: contentType } : {}) },
    partSize: 8 * 1024 * 1024,
  }).done();
}

export function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.js') || key.endsWith('.mjs') || key.endsWith('.cjs')) return 'text/javascript';
  if (key.endsWith('.md') || key.endsWith('.txt')) return 'text/plain';
  if (key.endsWith('.ts')) return 'application/typescript';
  return 'application/octet-stream';
}
