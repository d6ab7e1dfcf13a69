/**
 * `strongbox keys list | rotate --to KEY | retire KEY`: the vault's keyring (docs/format.md#keyring).
 * A KEY is a KMS key ARN (`arn:aws:kms:…`, AWS) or a local key file (the embedded stack); `retire`
 * also takes a key id as key documents name it (`sha256:…`).
 * @see ../../domain/keyring.ts
 */
import { createPublicKey } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import type { Command } from 'commander';
import {
  KmsRecipient,
  LocalKeyRecipient,
  localKeyIdOf,
  publicKeyIdOf,
  RsaOaepRecipient,
  readLocalKeyFile,
} from '#adapters/key-providers.ts';
import { StrongboxError, ValidationError } from '#domain/errors.ts';
import {
  type KeyRecipient,
  type KeyringChange,
  keyDocumentKey,
  listKeyDocuments,
  parseKeyDocument,
  retireRecipient,
  rotateKeys,
} from '#domain/keyring.ts';
import type { VaultStore } from '#domain/ports.ts';
import type { Config } from '#runtime/config.ts';
import type { Container } from '#runtime/container.ts';
import { formatTable } from '../format.ts';
import { type CliContext, collect, connect } from './context.ts';

const KMS_ARN = /^arn:aws[a-z-]*:kms:([a-z0-9-]+):\d{12}:key\/[0-9a-zA-Z-]+$/;

/** Whether a key file holds a PEM public key (an isolated vault's escrow key), not a master key. */
async function publicKeyPemOf(path: string): Promise<string | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.startsWith('-----BEGIN PUBLIC KEY-----') ? text : undefined;
}

/**
 * The recipient a KEY names: a KMS key ARN, a PEM public key file (an isolated vault's escrow key:
 * wrap only), or a local key file (made with 32 random bytes when `create` and it does not exist).
 * @throws ValidationError (not retryable) for a local key file that does not exist (without
 *   `create`) or does not hold a 256-bit key.
 */
export async function recipientOf(spec: string, { create = false } = {}): Promise<KeyRecipient> {
  const arn = KMS_ARN.exec(spec);
  if (arn) return new KmsRecipient(new KMSClient({ region: arn[1] as string }), spec);
  const path = resolve(spec);
  if (!create) {
    try {
      await access(path);
    } catch {
      throw new ValidationError(`no key file at ${path} (and not a KMS key ARN)`, 'KEY');
    }
  }
  const pem = await publicKeyPemOf(path);
  if (pem) return new RsaOaepRecipient(createPublicKey(pem));
  return LocalKeyRecipient.fromFile(path);
}

/** The key id a KEY names in key documents: a `sha256:…` id as given, a KMS key's ARN, a key file's fingerprint. */
export async function keyIdOf(spec: string): Promise<string> {
  if (/^sha256:[0-9a-f]{32}$/.test(spec) || KMS_ARN.test(spec)) return spec;
  const pem = await publicKeyPemOf(resolve(spec));
  if (pem) return publicKeyIdOf(createPublicKey(pem));
  return localKeyIdOf(await readLocalKeyFile(resolve(spec)));
}

/** The master key a configuration names (the key new writes use). */
export function configuredKey(config: Config): string {
  if (config.kmsKeyId) return config.kmsKeyId;
  if (config.localKeyFile) return config.localKeyFile;
  throw new StrongboxError('the configuration names no master key');
}

/** Every vault of a container: the primary, then the copy regions'. */
function vaultsOf(c: Container): VaultStore[] {
  return [c.pipeline.vaults.primary, ...c.pipeline.vaults.copies.values()];
}

/**
 * Refuse to retire the key the configuration still issues data keys under: key documents written
 * after the check would name it alone (found by the simulation: snapshots lost to an early retire).
 * @throws ValidationError (not retryable) when `keyId` is the configured key's.
 */
export function checkRetirable(keyId: string, configuredKeyId: string): void {
  if (keyId === configuredKeyId) {
    throw new ValidationError(
      `${keyId} is the configured master key: new data keys are still wrapped to it alone. Point the configuration at the new key, wait out functions started before the switch, run 'keys rotate --to NEW --from OLD', then retire it`,
      'KEY',
    );
  }
}

/** A table of what a rotation or retirement did per vault. */
export function formatChanges(changes: readonly KeyringChange[], verb: string): string {
  return formatTable(
    ['vault', 'region', 'key documents', verb, 'unchanged'],
    changes.map((c) => [c.bucket, c.region, c.documents, c.changed, c.unchanged]),
  );
}

/** Per vault and recipient, how many key documents name it. */
export async function describeKeyring(vaults: readonly VaultStore[]): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const vault of vaults) {
    const counts = new Map<string, number>();
    const ids = await listKeyDocuments(vault);
    for (const id of ids) {
      const doc = parseKeyDocument(await vault.get(keyDocumentKey(id)), id);
      for (const r of doc.recipients)
        counts.set(`${r.kind} ${r.keyId}`, (counts.get(`${r.kind} ${r.keyId}`) ?? 0) + 1);
    }
    if (counts.size === 0) rows.push([vault.bucket, vault.region, 0, '(none)', 0]);
    for (const [recipient, n] of counts) rows.push([vault.bucket, vault.region, ids.length, recipient, n]);
  }
  return formatTable(['vault', 'region', 'key documents', 'recipient', 'documents naming it'], rows);
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

export function registerKeys(program: Command, { dataDir, deployment }: CliContext): void {
  const keys = program
    .command('keys')
    .description('the vault keyring: which master keys wrap the data keys; rotate and retire master keys');
  keys
    .command('list')
    .description('per vault, the key documents and the master keys (recipients) they are wrapped to')
    .action(async () => {
      const c = await connect(dataDir(), deployment());
      console.log(await describeKeyring(vaultsOf(c)));
    });
  keys
    .command('rotate')
    .description(
      'wrap every data key to a new master key as well (key documents only, never a pack); idempotent and resumable. Then point the configuration at the new key and run `keys retire OLD`',
    )
    .requiredOption(
      '--to <key>',
      'the new master key: a KMS key ARN, or a local key file (created when missing)',
    )
    .option(
      '--all',
      'add the key to every key document, whatever kinds of keys they name (e.g. an isolated account key); by default only those naming a key of its kind',
      false,
    )
    .option(
      '--from <key>',
      'a master key to unwrap with besides the configured one (repeatable)',
      collect,
      [] as string[],
    )
    .action(async (opts: { to: string; from: string[]; all: boolean }) => {
      const c = await connect(dataDir(), deployment());
      const current = configuredKey(c.config);
      const holders = await Promise.all([current, ...opts.from].map((k) => recipientOf(k)));
      const to = await recipientOf(opts.to, { create: true });
      const changes = await rotateKeys(vaultsOf(c), { holders, to, all: opts.all, progress });
      console.log(formatChanges(changes, 'rewrapped'));
      console.log(
        `every key document now names ${to.kind} ${to.keyId}. Next: point the configuration at it (${c.config.kmsKeyId ? 'STRONGBOX_KMS_KEY_ID' : 'the stack key file'}), run 'strongbox keys rotate --to ${opts.to} --from OLD' once more (OLD: this key, kept aside) for data keys issued before the switch, then 'strongbox keys retire ${holders[0]?.keyId}'.`,
      );
    });
  keys
    .command('retire <key>')
    .description(
      'drop a master key from every key document, once each names another one too (checked first: nothing changes otherwise)',
    )
    .action(async (key: string) => {
      const c = await connect(dataDir(), deployment());
      const keyId = await keyIdOf(key);
      checkRetirable(keyId, await keyIdOf(configuredKey(c.config)));
      const changes = await retireRecipient(vaultsOf(c), { keyId }, progress);
      console.log(formatChanges(changes, 'retired from'));
      console.log(`no key document names ${keyId} any more: it may be disabled or deleted.`);
    });
}
