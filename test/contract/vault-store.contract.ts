/**
 * The VaultStore contract (docs/format.md and shared/domain/ports.ts), run against every
 * implementation: the memory twin and S3 on the emulator.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '#domain/errors.ts';
import type { VaultStore } from '#domain/ports.ts';
import { compareKeys } from '#domain/vault.ts';

export function vaultStoreContract(name: string, make: () => Promise<VaultStore>): void {
  describe(`VaultStore contract: ${name}`, () => {
    it('returns exactly the bytes that were put', async () => {
      const vault = await make();
      const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
      await vault.put('blobs/ab/x', body);
      expect(Buffer.from(await vault.get('blobs/ab/x')).equals(body)).toBe(true);
    });

    it('stores an empty document', async () => {
      const vault = await make();
      await vault.put('manifests/p/empty', new Uint8Array());
      expect((await vault.get('manifests/p/empty')).length).toBe(0);
    });

    it('throws NotFoundError for a missing key', async () => {
      const vault = await make();
      await expect(vault.get('blobs/00/missing')).rejects.toBeInstanceOf(NotFoundError);
    });

    it('lists every key under a prefix once, in UTF-8 binary order, across pages', async () => {
      const vault = await make();
      const keys = Array.from(
        { length: 1105 },
        (_, i) => `blobs/${['a', 'B', '_', 'é', '-', 'Z'][i % 6]}${i}`,
      );
      await Promise.all(keys.map((k) => vault.put(k, Buffer.from(k))));
      await vault.put('other/x', Buffer.from('x'));
      const listed: string[] = [];
      for await (const o of vault.list('blobs/')) listed.push(o.key);
      expect(listed).toEqual([...keys].sort(compareKeys));
    });

    it('reports size and an ISO-8601 last-modified time in listings', async () => {
      const vault = await make();
      await vault.put('blobs/aa/sized', Buffer.alloc(1234));
      const [o] = await (async () => {
        const all = [];
        for await (const x of vault.list('blobs/aa/')) all.push(x);
        return all;
      })();
      expect(o?.sizeBytes).toBe(1234);
      expect(Number.isNaN(Date.parse(o?.lastModified ?? ''))).toBe(false);
    });

    it('deletes keys, and deleting a missing key succeeds', async () => {
      const vault = await make();
      await vault.put('blobs/cc/1', Buffer.from('1'));
      await vault.put('blobs/cc/2', Buffer.from('2'));
      await vault.delete(['blobs/cc/1', 'blobs/cc/never']);
      const left = [];
      for await (const o of vault.list('blobs/cc/')) left.push(o.key);
      expect(left).toEqual(['blobs/cc/2']);
    });

    it('overwrites a key atomically with the new bytes', async () => {
      const vault = await make();
      await vault.put('blobs/dd/k', Buffer.from('old'));
      await vault.put('blobs/dd/k', Buffer.from('new'));
      expect(Buffer.from(await vault.get('blobs/dd/k')).toString()).toBe('new');
    });

    it('stores a single-part document with its full-object SHA-256 checksum and reports it without reading the bytes', async () => {
      // Prepare
      const vault = await make();
      const body = Buffer.from('sealed bytes');
      // Act
      const stored = await vault.put('blobs/ef/k', body);
      const reported = await vault.checksum('blobs/ef/k');
      // Assess
      const expected = createHash('sha256').update(body).digest('base64');
      expect(stored).toEqual({
        sizeBytes: body.length,
        checksumSha256: expected,
        checksumType: 'FULL_OBJECT',
      });
      expect(reported).toEqual(stored);
    });

    it('throws NotFoundError for the checksum of a missing key', async () => {
      const vault = await make();
      await expect(vault.checksum('blobs/00/missing')).rejects.toBeInstanceOf(NotFoundError);
    });

    // Object Lock itself (modes, dates, refusals) is pinned by the S3 adapter's mocked-client tests
    // and the memory twin's: the emulator stores the headers but enforces nothing.
    it('reports no retain-until for a document put without a lock, and NotFoundError for a missing key', async () => {
      const vault = await make();
      await vault.put('index/unlocked', Buffer.from('i'));
      expect(await vault.retainUntil('index/unlocked')).toBeUndefined();
      await expect(vault.retainUntil('index/missing')).rejects.toBeInstanceOf(NotFoundError);
      await expect(
        vault.extendRetention('index/missing', '2030-01-01T00:00:00.000Z', 'GOVERNANCE'),
      ).rejects.toBeInstanceOf(NotFoundError);
    });
  });
}
