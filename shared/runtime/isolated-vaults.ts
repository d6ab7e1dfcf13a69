/**
 * Isolated vaults: copy targets outside this deployment's account and provider, configured as
 * `STRONGBOX_ISOLATED_VAULTS` (a JSON list, validated here) and built into the pipeline's
 * `vaults.isolated`. README, "Isolated vault"; docs/format.md#isolated-vaults.
 *
 * - `account`: a bucket in another AWS account, reached through a role of that account assumed with
 *   an ExternalId: `copyRoleArn` by the copy function (`STRONGBOX_ISOLATED_VAULT_ACCESS=write`),
 *   `readerRoleArn` by every other function (restore, verification, drills, browse).
 * - `s3-compatible`: a bucket at another provider's S3 endpoint, with an access key read from a
 *   Secrets Manager secret (`credentialsSecretArn`); without one (the embedded stack only) the
 *   SDK's default credentials.
 */

import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import { assumedRoleCredentials, secretCredentials } from '#adapters/isolated-credentials.ts';
import { S3VaultStore } from '#adapters/s3/vault-store.ts';
import { isolatedLocation } from '#domain/pipeline.ts';
import type { VaultStore } from '#domain/ports.ts';

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'an isolated vault name is lowercase letters, digits and dashes');
const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'not an AWS region name');
const bucket = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid S3 bucket name');
const escrowKey = z
  .string()
  .regex(/^-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----\s*$/, 'a PEM public key (SPKI)');
const roleArn = z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'not an IAM role ARN');

/** An isolated vault in another AWS account (deploy/isolated-account.yml creates it). */
export const AccountVaultSchema = z.strictObject({
  name,
  kind: z.literal('account'),
  /** The isolated account's region (where its bucket and key are). */
  region: awsRegion,
  bucket,
  /** The role the copy function assumes (the template's output CopyRoleArn). */
  copyRoleArn: roleArn,
  /** The role restore, verification, drills and browse assume (output ReaderRoleArn). */
  readerRoleArn: roleArn,
  /** The ExternalId both roles' trust policies require (2 to 1224 characters). */
  externalId: z
    .string()
    .regex(/^[\w+=,.@:/-]{2,1224}$/, 'an ExternalId is 2 to 1224 of [A-Za-z0-9+=,.@:/_-]'),
  /**
   * The isolated side's own key (SPKI PEM of an RSA key, 2048 bits or more): every data key is also
   * wrapped to it, so the isolated copies open without this deployment's keys (docs/format.md#keyring).
   * Its private half stays with the isolated account or provider (an offline file, or the private
   * half of that account's KMS RSA key); no function of this deployment holds it.
   */
  escrowPublicKey: escrowKey.optional(),
});

/** An isolated vault at another provider's S3-compatible endpoint. */
export const S3CompatibleVaultSchema = z.strictObject({
  name,
  kind: z.literal('s3-compatible'),
  /** The provider's S3 endpoint, e.g. `https://s3.eu-central-003.backblazeb2.com`. */
  endpoint: z.url(),
  /** The region the provider signs requests for (its docs name it; often `us-east-1`). */
  region: z.string().min(1),
  bucket,
  /** Path-style addressing (`endpoint/bucket/key`), which most providers want. @default true */
  forcePathStyle: z.boolean().default(true),
  /** The Secrets Manager secret holding `{"accessKeyId": …, "secretAccessKey": …}`. */
  credentialsSecretArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$/, 'not a secret ARN')
    .optional(),
  /**
   * The isolated side's own key (SPKI PEM of an RSA key, 2048 bits or more): every data key is also
   * wrapped to it, so the isolated copies open without this deployment's keys (docs/format.md#keyring).
   * Its private half stays with the isolated account or provider (an offline file, or the private
   * half of that account's KMS RSA key); no function of this deployment holds it.
   */
  escrowPublicKey: escrowKey.optional(),
});

export const IsolatedVaultSchema = z.discriminatedUnion('kind', [
  AccountVaultSchema,
  S3CompatibleVaultSchema,
]);
export type IsolatedVault = z.infer<typeof IsolatedVaultSchema>;

/** `STRONGBOX_ISOLATED_VAULTS`: a JSON list of isolated vaults with distinct names ('' = none). */
export const IsolatedVaultsSchema = z
  .string()
  .default('')
  .transform((text, ctx) => {
    if (!text.trim()) return [];
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON: a list of isolated vaults' });
      return z.NEVER;
    }
  })
  .pipe(z.array(IsolatedVaultSchema))
  .refine((list) => new Set(list.map((v) => v.name)).size === list.length, 'isolated vault names repeat');

/** What an isolated vault is reached with, per function: the copy function writes, the rest read. */
export type IsolatedAccess = 'read' | 'write';

/**
 * The S3 client of an isolated vault: its region and endpoint, with the credentials of its kind
 * (the role for `access`, assumed with the ExternalId; or the provider's key from its secret).
 * @param options `sdkMaxAttempts` as the deployment's other clients; `sessionName` names the STS session.
 */
export function isolatedS3Client(
  vault: IsolatedVault,
  access: IsolatedAccess,
  options: { sdkMaxAttempts: number; primaryRegion: string; sessionName?: string },
): S3Client {
  const common = { maxAttempts: options.sdkMaxAttempts, retryMode: 'adaptive' as const };
  if (vault.kind === 'account') {
    const credentials = assumedRoleCredentials(new STSClient({ region: options.primaryRegion, ...common }), {
      roleArn: access === 'write' ? vault.copyRoleArn : vault.readerRoleArn,
      externalId: vault.externalId,
      sessionName: options.sessionName ?? `strongbox-${access}`,
    });
    return new S3Client({ region: vault.region, credentials, ...common });
  }
  const secretArn = vault.credentialsSecretArn;
  return new S3Client({
    region: vault.region,
    endpoint: vault.endpoint,
    forcePathStyle: vault.forcePathStyle,
    ...common,
    ...(secretArn
      ? {
          credentials: secretCredentials(
            // The secret lives in this deployment's account: its region is in its ARN.
            new SecretsManagerClient({ region: secretArn.split(':')[3] as string, ...common }),
            secretArn,
          ),
        }
      : {}),
  });
}

/**
 * The isolated vaults' stores by name, each with its location `vault:<name>` as its region. No
 * write policy (Object Lock headers, storage classes): the isolated bucket's default retention
 * locks what is written, and a provider may not take S3's Object Lock headers.
 * @param wrap what to put around each store (the container observes it as `vault:<name>`).
 */
export function isolatedVaultStores(
  vaults: readonly IsolatedVault[],
  access: IsolatedAccess,
  options: { sdkMaxAttempts: number; primaryRegion: string },
  wrap: (vault: VaultStore, location: string) => VaultStore = (v) => v,
  httpOf: (client: S3Client) => ConstructorParameters<typeof S3VaultStore>[3] = () => undefined,
): Map<string, VaultStore> {
  return new Map(
    vaults.map((v) => {
      const client = isolatedS3Client(v, access, options);
      const location = isolatedLocation(v.name);
      return [v.name, wrap(new S3VaultStore(client, location, v.bucket, httpOf(client)), location)] as const;
    }),
  );
}
