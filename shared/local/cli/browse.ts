/**
 * `strongbox ls PLAN[@SNAPSHOT|@TIME] [PREFIX]`, `strongbox diff PLAN A B`, `strongbox find PLAN
 * PATTERN` and `strongbox serve-s3 PLAN[@SNAPSHOT|@TIME]`: history without a restore. Text for people; `--json` for scripts (JSON lines, one per
 * object or change; one document for find).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import type { FindResult, FoundVersion } from '#domain/browse/find.ts';
import { MAX_FOUND_VERSIONS } from '#domain/browse/remote.ts';
import { ServedTree, type TreeReader } from '#domain/browse/served-tree.ts';
import type { TreeAt, TreeChange, TreeEntry, TreeSource } from '#domain/browse/tree.ts';
import { isolatedLocation } from '#domain/pipeline.ts';
import { formatBytes } from '../format.ts';
import { type History, localHistory, type OpenedDiff, remoteHistory } from '../history.ts';
import { RemoteTree } from '../remote-tree.ts';
import { serveS3 } from '../serve-s3.ts';
import { type CliContext, connect } from './context.ts';
import type { Deployment } from './deployed.ts';

const isoTime = z.iso.datetime({ offset: true });

/** `SNAPSHOT` (an id or `latest`) or `TIME` (ISO-8601) as a tree of `plan`. */
export function treeOf(plan: string, at: string | undefined): TreeAt {
  if (at === undefined || at === '') return { plan };
  return isoTime.safeParse(at).success ? { plan, pointInTime: at } : { plan, snapshot: at };
}

/** `PLAN`, `PLAN@SNAPSHOT` or `PLAN@TIME`. */
export function parseTreeSpec(spec: string): TreeAt {
  const at = spec.indexOf('@');
  const plan = at < 0 ? spec : spec.slice(0, at);
  if (plan === '')
    throw new InvalidArgumentError(`'${spec}' names no plan: use PLAN, PLAN@SNAPSHOT or PLAN@TIME`);
  return treeOf(plan, at < 0 ? undefined : spec.slice(at + 1));
}

/** Which tree was read, in words: `snapshot 20261201T000000Z (us-east-1)`, or `… as of TIME (N journaled changes)`. */
export function describeSource(s: TreeSource): string {
  const at = s.pointInTime
    ? ` as of ${s.pointInTime.at} (${s.pointInTime.changes} journaled change(s) since it)`
    : '';
  return `snapshot ${s.snapshot.snapshotId}${at} of plan ${s.planId} (${s.region})`;
}

/** One object of `ls`: size, last modified (UTC, to the second), key. */
export function treeLine(e: TreeEntry): string {
  return `${formatBytes(e.sizeBytes).padStart(10)}  ${e.lastModified.slice(0, 19).replace('T', ' ')}  ${e.key}`;
}

/** One change of `diff`: `+` added, `-` removed, `M` modified, with sizes. */
export function changeLine(c: TreeChange): string {
  switch (c.change) {
    case 'added':
      return `+ ${c.key}  (${formatBytes(c.after.sizeBytes)})`;
    case 'removed':
      return `- ${c.key}  (${formatBytes(c.before.sizeBytes)})`;
    case 'modified':
      return `M ${c.key}  (${formatBytes(c.before.sizeBytes)} → ${formatBytes(c.after.sizeBytes)})`;
  }
}

/** What `ls` prints, line by line, to `out`. */
export async function printTree(
  entries: AsyncIterable<TreeEntry>,
  source: TreeSource,
  json: boolean,
  out: (line: string) => void,
): Promise<void> {
  let objects = 0;
  let bytes = 0;
  for await (const e of entries) {
    out(json ? JSON.stringify(e) : treeLine(e));
    objects += 1;
    bytes += e.sizeBytes;
  }
  if (!json) out(`${objects} object(s), ${formatBytes(bytes)} in ${describeSource(source)}`);
}

/** What `diff` prints, line by line, to `out`. */
export async function printDiff(diff: OpenedDiff, json: boolean, out: (line: string) => void): Promise<void> {
  const counts = { added: 0, removed: 0, modified: 0 };
  for await (const c of diff.changes) {
    out(json ? JSON.stringify(c) : changeLine(c));
    counts[c.change] += 1;
  }
  if (!json)
    out(
      `${counts.added} added, ${counts.removed} removed, ${counts.modified} modified from ${describeSource(diff.a)} to ${describeSource(diff.b)}` +
        ` (${diff.sharedParts} manifest part(s) shared, not read)`,
    );
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/**
 * `--size`: `N` exactly, `+N` at least, `-N` at most, N in bytes or with a binary unit (`K`, `M`,
 * `G`, `T`, optionally followed by `iB` or `B`: `+1.5MiB`).
 */
export function parseSizeFilter(text: string): { minSizeBytes?: number; maxSizeBytes?: number } {
  const m = /^([+-]?)(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`'${text}' is not a size: use N, +N or -N, e.g. +10M`);
  const bytes = Math.round(Number(m[2]) * (SIZE_UNITS[(m[3] ?? '').toUpperCase()] as number));
  if (m[1] === '+') return { minSizeBytes: bytes };
  if (m[1] === '-') return { maxSizeBytes: bytes };
  return { minSizeBytes: bytes, maxSizeBytes: bytes };
}

function sightingText(s: { in: string; time: string }): string {
  return `${s.time.slice(0, 19).replace('T', ' ')} (${s.in === 'journal' ? 'journal' : `snapshot ${s.in}`})`;
}

/** One version of `find`: key, size, ETag, first and last seen, in how many snapshots and captures. */
export function versionLine(v: FoundVersion): string {
  const seen = [`${v.snapshots} snapshot(s)`, ...(v.captures > 0 ? [`${v.captures} capture(s)`] : [])].join(
    ', ',
  );
  return `${v.key}  ${formatBytes(v.sizeBytes)}  etag ${v.etag}  first ${sightingText(v.firstSeen)}  last ${sightingText(v.lastSeen)}  in ${seen}`;
}

/** What `find` prints. */
export function formatFind(result: FindResult, json: boolean): string {
  if (json) return JSON.stringify(result);
  const keys = new Set(result.versions.map((v) => v.key)).size;
  return [
    ...result.versions.map(versionLine),
    `${result.versions.length} version(s) of ${keys} key(s); searched ${result.snapshotsSearched} snapshot(s), ` +
      `read ${result.partsRead} manifest part(s) (${result.partsSkipped} skipped: shared or outside the pattern) ` +
      `and ${result.journalEntriesSearched} journal entries`,
  ].join('\n');
}

export function registerBrowse(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('ls <plan[@snapshot|@time]> [prefix]')
    .description(
      'the objects of a snapshot (an id or latest, the default) or of any point in time (ISO-8601: the snapshot before it and the journal since), under a prefix',
    )
    .option('--region <region>', "read a copy region's vault")
    .option('--vault <name>', 'read an isolated vault (another account or provider)')
    .option('--json', 'one JSON object per line: key, sizeBytes, lastModified, etag, contentSha256')
    .action(
      async (
        spec: string,
        prefix: string | undefined,
        opts: { region?: string; vault?: string; json?: boolean },
      ) => {
        const at = { ...parseTreeSpec(spec), ...regionOf(opts) };
        const tree = await (await historyOf(dataDir(), deployment())).openTree(at, prefix);
        await printTree(tree.entries, tree.source, opts.json === true, (line) => console.log(line));
      },
    );
  program
    .command('diff <plan> <a> <b>')
    .description(
      'what changed from A to B (each a snapshot id, latest, or an ISO-8601 time): keys added, removed and modified, comparing only the manifest parts the two do not share',
    )
    .option('--prefix <prefix>', 'only keys under this prefix')
    .option('--region <region>', "read a copy region's vault")
    .option('--vault <name>', 'read an isolated vault (another account or provider)')
    .option('--json', 'one JSON object per line: change (added, removed, modified), key, before, after')
    .action(
      async (
        plan: string,
        a: string,
        b: string,
        opts: { prefix?: string; region?: string; vault?: string; json?: boolean },
      ) => {
        const sides = [
          { ...treeOf(plan, a), ...regionOf(opts) },
          { ...treeOf(plan, b), ...regionOf(opts) },
        ] as const;
        const diff = await (await historyOf(dataDir(), deployment())).diffTrees(...sides, opts.prefix);
        await printDiff(diff, opts.json === true, (line) => console.log(line));
      },
    );
  registerFind(program, { dataDir, deployment });
  registerServeS3(program, { dataDir, deployment });
}

/** A tree to serve: read in this process, or through a deployed stage's browse function. */
async function openReader(
  dataDir: string,
  deployed: Deployment | undefined,
  at: TreeAt,
): Promise<TreeReader> {
  if (deployed) return RemoteTree.open(deployed, at);
  return ServedTree.open((await connect(dataDir)).pipeline, at);
}

/** A bucket name for a plan id: itself when S3 would take it, else `strongbox`. */
function bucketNameOf(plan: string): string {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(plan) ? plan : 'strongbox';
}

function registerServeS3(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('serve-s3 <plan[@snapshot|@time]>')
    .description(
      'serve a snapshot or any point in time as a read-only S3 bucket on loopback, straight from the vault (aws s3, rclone and SDKs read it; writes are refused)',
    )
    .option('--port <port>', 'port to listen on (0: any free one)', (v) => Number(v), 9000)
    .option('--host <host>', 'address to listen on (loopback: requests are not authenticated)', '127.0.0.1')
    .option('--bucket <name>', 'the bucket name clients use [default: the plan id]')
    .option('--region <region>', "read a copy region's vault")
    .option('--vault <name>', 'read an isolated vault (another account or provider)')
    .action(
      async (
        spec: string,
        opts: { port: number; host: string; bucket?: string; region?: string; vault?: string },
      ) => {
        const at = parseTreeSpec(spec);
        const tree = await openReader(dataDir(), deployment(), { ...at, ...regionOf(opts) });
        const bucket = opts.bucket ?? bucketNameOf(at.plan);
        const served = await serveS3(tree, {
          bucket,
          region: tree.source.region,
          host: opts.host,
          port: opts.port,
        });
        console.log(`serving ${describeSource(tree.source)} read-only as s3://${bucket} at ${served.url}`);
        console.log(`  aws --endpoint-url ${served.url} --no-sign-request s3 ls --recursive s3://${bucket}/`);
        console.log(`  rclone lsf -R :s3,provider=Other,env_auth=false,endpoint=${served.url}:${bucket}`);
        console.log('Ctrl-C stops it.');
        await new Promise<void>((resolve) => {
          const stop = () => {
            served.close().then(() => {
              tree.close();
              resolve();
            });
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );
}

function registerFind(program: Command, { dataDir, deployment }: CliContext): void {
  program
    .command('find <plan> <pattern>')
    .description(
      'every version of the keys matching a glob (** crosses /) in every snapshot and in the journal, with when each was first and last seen',
    )
    .option('--since <time>', 'only snapshots taken and versions captured at or after this ISO-8601 time')
    .option('--until <time>', 'only snapshots taken and versions captured at or before this ISO-8601 time')
    .option('--size <size>', 'N exactly, +N at least, -N at most (bytes, or K, M, G, T)', parseSizeFilter)
    .option('--etag <etag>', 'only versions with this ETag')
    .option('--region <region>', "read a copy region's vault (its snapshots only)")
    .option('--vault <name>', 'read an isolated vault (its snapshots only)')
    .option('--json', 'one JSON document: versions, and what was searched')
    .action(
      async (
        plan: string,
        pattern: string,
        opts: {
          since?: string;
          until?: string;
          size?: ReturnType<typeof parseSizeFilter>;
          etag?: string;
          region?: string;
          vault?: string;
          json?: boolean;
        },
      ) => {
        for (const [name, value] of [
          ['since', opts.since],
          ['until', opts.until],
        ] as const)
          if (value !== undefined && !isoTime.safeParse(value).success)
            throw new InvalidArgumentError(`--${name} '${value}' is not an ISO-8601 time`);
        const request = {
          plan,
          pattern,
          ...(opts.since ? { since: opts.since } : {}),
          ...(opts.until ? { until: opts.until } : {}),
          ...(opts.size ?? {}),
          ...(opts.etag ? { etag: opts.etag } : {}),
          ...regionOf(opts),
        };
        const result = await (await historyOf(dataDir(), deployment())).findVersions(request);
        console.log(formatFind(result, opts.json === true));
        if (result.truncated)
          console.error(
            `only the first ${MAX_FOUND_VERSIONS} versions: narrow the pattern, --since or --until`,
          );
      },
    );
}

/** The history of the embedded stack, or of a deployed stage through its browse function. */
async function historyOf(dataDir: string, deployed: Deployment | undefined): Promise<History> {
  return deployed ? remoteHistory(deployed) : localHistory((await connect(dataDir)).pipeline);
}

/** The vault to read: `--region` (a copy region's) or `--vault` (an isolated vault's location), or none. */
function regionOf(opts: { region?: string; vault?: string }): { region?: string } {
  if (opts.region && opts.vault) throw new InvalidArgumentError('--region and --vault cannot be combined');
  if (opts.vault) return { region: isolatedLocation(opts.vault) };
  return opts.region ? { region: opts.region } : {};
}
