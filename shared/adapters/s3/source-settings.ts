/**
 * A protected bucket's watched settings through the S3 API, for the detector's settings watch.
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketLifecycleConfiguration.html
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html
 */
import {
  GetBucketLifecycleConfigurationCommand,
  GetBucketPolicyCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import type { SourceSettings, SourceSettingsReader } from '#domain/detector/source-settings.ts';
import { StrongboxError } from '#domain/errors.ts';
import { mapS3Error } from './errors.ts';

/** The S3 error names that mean "this bucket has no such configuration". */
const NONE = new Set(['NoSuchLifecycleConfiguration', 'NoSuchBucketPolicy']);

/** JSON with its object keys sorted, so equal configurations give equal texts. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => v !== undefined && k !== '$metadata')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * A policy document's canonical text, or undefined (unknown) when the answer is not a JSON object:
 * S3 returns the policy as JSON, so anything else is an endpoint that does not implement policies
 * (fauxqs answers `?policy` with the bucket's listing, which changes with every upload).
 */
function canonicalPolicy(policy: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(policy);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? canonicalJson(parsed)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads lifecycle rules and the bucket policy of a bucket. A configuration the bucket lacks reads as
 * `null`; one S3 refuses (403) or does not implement (501, or an endpoint that answers something
 * else) is left out, so it is never taken for a change.
 * @example
 * ```ts
 * const settings = await new S3SourceSettingsReader(new S3Client({})).readSettings('photos');
 * ```
 */
export class S3SourceSettingsReader implements SourceSettingsReader {
  readonly #s3: S3Client;

  constructor(s3: S3Client) {
    this.#s3 = s3;
  }

  async readSettings(bucket: string): Promise<SourceSettings> {
    const settings: SourceSettings = {};
    const lifecycle = await this.#read(bucket, 'lifecycle', async () => {
      const out = await this.#s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
      return canonicalJson(out.Rules ?? []);
    });
    if (lifecycle !== undefined) settings.lifecycle = lifecycle;
    const policy = await this.#read(bucket, 'policy', async () => {
      const out = await this.#s3.send(new GetBucketPolicyCommand({ Bucket: bucket }));
      return out.Policy === undefined ? null : canonicalPolicy(out.Policy);
    });
    if (policy !== undefined) settings.policy = policy;
    return settings;
  }

  async #read(
    bucket: string,
    what: string,
    read: () => Promise<string | null | undefined>,
  ): Promise<string | null | undefined> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof S3ServiceException && NONE.has(error.name)) return null;
      const mapped = mapS3Error(error, `${what} of s3://${bucket}`);
      if (mapped.retryable) throw mapped;
      // Refused, not implemented, or not understood: unknown, not "none".
      if (mapped instanceof StrongboxError) return undefined;
      throw mapped;
    }
  }
}
