/**
 * The raw floor, in a process of its own (so its peak RSS is its own): GET every object of a bucket
 * and PUT it into another with one AWS SDK S3 client, `concurrency` at a time. What moving the bytes
 * costs with the SDK the functions use, and nothing else (no hashing, compression, encryption or
 * catalog).
 *
 * Usage (run.ts does it): `node test/bench/raw-floor.ts <job.json>` with
 * `{ endpoint, region, srcBucket, dstBucket, keys, concurrency }`; prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { peakRssBytes } from '#local/peak-rss.ts';

export interface RawFloorJob {
  endpoint: string;
  region: string;
  srcBucket: string;
  dstBucket: string;
  keys: string[];
  concurrency: number;
}

export interface RawFloorResult {
  seconds: number;
  objects: number;
  bytes: number;
  /** This process's peak RSS (VmHWM; see #local/peak-rss.ts). */
  peakRssBytes: number;
}

async function main(): Promise<void> {
  const job = JSON.parse(await readFile(process.argv[2] as string, 'utf8')) as RawFloorJob;
  const s3 = new S3Client({
    region: job.region,
    endpoint: job.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const limit = pLimit(job.concurrency);
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    job.keys.map((key) =>
      limit(async () => {
        const out = await s3.send(new GetObjectCommand({ Bucket: job.srcBucket, Key: key }));
        const body = await out.Body?.transformToByteArray();
        if (!body) throw new Error(`GET ${key}: no body`);
        bytes += body.length;
        await s3.send(new PutObjectCommand({ Bucket: job.dstBucket, Key: key, Body: body }));
      }),
    ),
  );
  const result: RawFloorResult = {
    seconds: (performance.now() - started) / 1000,
    objects: job.keys.length,
    bytes,
    peakRssBytes: peakRssBytes() ?? process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
