/**
 * Credentials of an isolated vault's S3 client (docs/format.md#isolated-vaults): a role of another
 * AWS account assumed with its ExternalId (STS AssumeRole), or an S3-compatible provider's access key
 * read from Secrets Manager. Both are credential providers the S3 client calls per request; each
 * caches what it got and fetches again shortly before it expires.
 */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, type AssumeRoleCommandOutput, type STSClient } from '@aws-sdk/client-sts';
import { z } from 'zod';
import { StrongboxError, TransientError } from '#domain/errors.ts';

/** Credentials as the SDK's clients take them (`credentials` of a client's configuration). */
export interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When they stop working; none for a long-lived access key. */
  expiration?: Date;
}
/** A credential provider, called by the client per request. */
export type AwsCredentialIdentityProvider = () => Promise<AwsCredentialIdentity>;

/** Fetch again when the cached credentials expire within this. */
const REFRESH_BEFORE_MS = 5 * 60_000;
/** A secret's key is read again after this (a rotated secret is picked up without a restart). */
export const SECRET_TTL_MS = 15 * 60_000;
/** Seconds an assumed role's session lasts (STS's default and the role's minimum maximum). */
const SESSION_SECONDS = 3600;

/**
 * A provider that calls `fetch` once, then again only when what it returned expires within
 * {@link REFRESH_BEFORE_MS} (concurrent callers share one fetch; a failed fetch is not cached).
 */
function cached(
  fetch: () => Promise<AwsCredentialIdentity>,
  now: () => number = Date.now,
): AwsCredentialIdentityProvider {
  let current: Promise<AwsCredentialIdentity> | undefined;
  return async () => {
    const held = current ? await current.catch(() => undefined) : undefined;
    if (held && (!held.expiration || held.expiration.getTime() - now() > REFRESH_BEFORE_MS)) return held;
    current = fetch();
    current.catch(() => {
      current = undefined;
    });
    return current;
  };
}

/**
 * Credentials of `roleArn` in the isolated account, assumed with `externalId` by this function's
 * own role (which the isolated account's trust policy names). STS: AssumeRole.
 * @param sts an STS client with this function's credentials.
 * @throws TransientError (retryable) when STS fails or refuses (a trust policy not in place yet is
 *   retried by the task's redelivery, then lands in the DLQ with the reason).
 * @example
 * ```ts
 * const credentials = assumedRoleCredentials(new STSClient({}), {
 *   roleArn: 'arn:aws:iam::210987654321:role/strongbox-prod-isolated-copy',
 *   externalId: 'strongbox-prod-7f3a…',
 *   sessionName: 'strongbox-copy',
 * });
 * ```
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
export function assumedRoleCredentials(
  sts: STSClient,
  role: { roleArn: string; externalId: string; sessionName: string },
  now?: () => number,
): AwsCredentialIdentityProvider {
  return cached(async () => {
    let out: AssumeRoleCommandOutput;
    try {
      out = await sts.send(
        new AssumeRoleCommand({
          RoleArn: role.roleArn,
          ExternalId: role.externalId,
          RoleSessionName: role.sessionName,
          DurationSeconds: SESSION_SECONDS,
        }),
      );
    } catch (error) {
      throw new TransientError(`could not assume ${role.roleArn}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new TransientError(`STS returned no credentials for ${role.roleArn}`);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      ...(c.Expiration ? { expiration: c.Expiration } : {}),
    };
  }, now);
}

/** What an S3-compatible provider's secret holds (SecretString, JSON). */
export const ProviderSecretSchema = z.strictObject({
  accessKeyId: z.string().min(1),
  secretAccessKey: z.string().min(1),
  /** Only for providers that issue temporary keys. */
  sessionToken: z.string().min(1).optional(),
});

/**
 * An S3-compatible provider's access key, read from the Secrets Manager secret `secretArn` (its
 * SecretString: `{"accessKeyId": "…", "secretAccessKey": "…"}`), and read again every
 * {@link SECRET_TTL_MS}. Secrets Manager: GetSecretValue.
 * @throws TransientError (retryable) when Secrets Manager fails; StrongboxError (not retryable) when
 *   the secret does not hold such a JSON document (the message names the secret, never its value).
 * @example
 * ```ts
 * const credentials = secretCredentials(new SecretsManagerClient({}), 'arn:aws:secretsmanager:us-east-1:123456789012:secret:strongbox-offsite-AbCdEf');
 * ```
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 */
export function secretCredentials(
  secrets: SecretsManagerClient,
  secretArn: string,
  now: () => number = Date.now,
): AwsCredentialIdentityProvider {
  return cached(async () => {
    let text: string | undefined;
    try {
      const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
      text = out.SecretString;
    } catch (error) {
      throw new TransientError(`could not read secret ${secretArn}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    let parsed: z.infer<typeof ProviderSecretSchema> | undefined;
    try {
      parsed = ProviderSecretSchema.parse(JSON.parse(text ?? ''));
    } catch {
      throw new StrongboxError(
        `secret ${secretArn} does not hold {"accessKeyId": "…", "secretAccessKey": "…"} as its SecretString`,
      );
    }
    return { ...parsed, expiration: new Date(now() + SECRET_TTL_MS) };
  }, now);
}
