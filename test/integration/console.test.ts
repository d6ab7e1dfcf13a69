/**
 * The web console in a real browser: Debian's chromium (installed with apt-get when missing, never
 * downloaded) driven headless by playwright-core, against the console served on the embedded stack
 * after the pipeline took two snapshots of keys with spaces and non-ASCII characters. Elements are
 * found by role and label, as assistive technology finds them. Screenshots go to .artifacts/console/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SqsDeadLetterQueues } from '#adapters/sqs-dead-letters.ts';
import { applyPlans } from '#domain/apply-plans.ts';
import { DLQ_REASON_ATTRIBUTE } from '#domain/dead-letters.ts';
import { startSnapshotNow } from '#domain/scheduling.ts';
import { type RunningConsole, startConsole } from '#local/console/server.ts';
import { type LocalStack, PROJECT_ROOT, startLocalStack } from '#local/stack.ts';
import type { Container } from '#runtime/container.ts';
import { DLQ_REASON_ATTRIBUTE as RUNTIME_DLQ_REASON_ATTRIBUTE } from '#runtime/sqs-task-handler.ts';
import { debianProgram } from '../support/debian.ts';
import { jobEnded, waitFor } from '../support/wait.ts';

const PLAN = 'console';
const TARGET = 'console-restored';
const ARTIFACTS = join(PROJECT_ROOT, '.artifacts', 'console');
/** What the browser waits for, at most, before a check fails. */
const UI_TIMEOUT_MS = 20_000;
/** Debian's chromium as root on a machine with no outside network (see test/support/debian.ts). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let stack: LocalStack;
let c: Container;
let dataDir: string;
let source: string;
let first: string;
let second: string;
let served: RunningConsole;
let browser: Browser;
let page: Page;

const UPLOADS: Record<string, string> = {
  'docs/read me.txt': 'hello, console',
  'docs/ünïcødé/naïve résumé.txt': 'bonjour, console ✓',
  'photos/cat.jpg': 'meow '.repeat(2000),
  'photos/notes.txt': 'v1',
};

async function put(key: string, body: string): Promise<void> {
  await stack.s3().send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
}

async function snapshot(): Promise<string> {
  await stack.settled(); // capture journaled every change
  const { snapshotId } = await startSnapshotNow(c.pipeline, PLAN);
  expect((await jobEnded(c.pipeline.catalog, PLAN, snapshotId)).status).toBe('SUCCEEDED');
  return snapshotId;
}

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A view, through the navigation. */
async function openView(name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name, exact: true }).click();
}

/** Poll what the page shows until the assertion holds (vitest's expect.poll: the page updates itself). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: UI_TIMEOUT_MS, interval: 100 });
/** The text a locator shows, as rendered (cells of a row separated by tabs). */
const shown = (l: Locator) => () => l.innerText();
const texts = (l: Locator) => () => l.allInnerTexts();
const count = (l: Locator) => () => l.count();
const isFocused = (l: Locator) => () => l.evaluate((e) => e === document.activeElement);

async function restored(key: string): Promise<string | undefined> {
  try {
    const out = await stack.s3().send(new GetObjectCommand({ Bucket: TARGET, Key: key }));
    return await out.Body?.transformToString('utf8');
  } catch {
    return undefined;
  }
}

let executablePath: string;

// The browser first, with time for apt-get: a machine without chromium gets Debian's package, or the
// tests fail saying why.
beforeAll(async () => {
  executablePath = await debianProgram('chromium');
}, 900_000);

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  dataDir = await mkdtemp(join(tmpdir(), 'strongbox-console-'));
  stack = await startLocalStack({ dataDir, logLevel: 'SILENT' });
  c = stack.container();
  source = String(stack.serverless.functions.capture?.events.find((e) => e.s3)?.s3?.bucket);
  await applyPlans(
    c.pipeline,
    {
      plans: [
        {
          id: PLAN,
          source: { bucket: source },
          schedule: 'cron(0 3 1 1 ? *)',
          rpoMinutes: 60,
          retention: { keepLast: 10 },
          copyRegions: stack.copyRegions,
        },
      ],
    },
    stack.copyRegions,
  );
  for (const [key, body] of Object.entries(UPLOADS)) await put(key, body);
  first = await snapshot();
  await put('photos/new ✓.txt', 'fresh');
  await put('photos/notes.txt', 'version 2');
  second = await snapshot();
  await stack.s3().send(new CreateBucketCommand({ Bucket: TARGET }));
  served = await startConsole({ container: c, port: 0 });
  browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
  await page.goto(served.url);
}, 240_000);

// A failed check leaves what the page showed then, and its text, beside the other screenshots.
afterEach(async (context) => {
  if (context.task.result?.state !== 'fail' || !page) return;
  const name = `failed-${context.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
  await screenshot(name);
  await writeFile(join(ARTIFACTS, `${name}.txt`), await page.locator('main').innerText());
});

afterAll(async () => {
  await browser?.close();
  await served?.close();
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('the web console in chromium', () => {
  it('shows each plan with its recovery point against its RPO', async () => {
    const row = page.getByRole('row', { name: new RegExp(`^${PLAN} `) });
    await poll(shown(row.getByRole('cell').nth(5))).toBe('within RPO');
    await poll(shown(row)).toMatch(/\t60 min\t/);
    await poll(shown(row)).toContain('2 committed');
    expect(await page.getByRole('link', { name: 'Plans', exact: true }).getAttribute('aria-current')).toBe(
      'page',
    );
    await screenshot('plans');
  });

  it('shows the timeline: every snapshot, its copy and verification, dedup and compression', async () => {
    await page.getByRole('link', { name: PLAN, exact: true }).click();
    await poll(isFocused(page.getByRole('heading', { name: `Timeline of plan ${PLAN}` }))).toBe(true);
    const table = page.getByRole('table', { name: `Snapshots of plan ${PLAN}, oldest first` });
    // The two snapshots, oldest first, each committed, copied and verified.
    await poll(texts(table.getByRole('rowheader'))).toEqual([first, second]);
    for (const i of [1, 2]) {
      const row = shown(table.getByRole('row').nth(i));
      await poll(row).toContain('COMMITTED');
      await poll(row).toContain(`${stack.copyRegions[0]}: COPIED`);
      await poll(row).toMatch(/catalog PASSED \d region/);
    }
    await page.getByRole('img', { name: /^Chart of 2 snapshot\(s\) from / }).waitFor();
    await page.getByRole('button', { name: 'Measure dedup and compression' }).click();
    const efficiency = page.getByRole('table', { name: /per region, over its committed snapshots$/ });
    await poll(count(efficiency.getByRole('row'))).toBe(1 + 1 + stack.copyRegions.length);
    await table.getByRole('columnheader', { name: 'New vs previous' }).waitFor();
    // Two snapshots holding the same objects but one dedup; the repeated text compresses.
    const [dedup, compression] = (
      await efficiency.getByRole('row').nth(1).getByRole('cell').allInnerTexts()
    ).slice(-2);
    expect(Number.parseFloat(dedup ?? '')).toBeGreaterThan(1);
    expect(Number.parseFloat(compression ?? '')).toBeGreaterThan(1);
    await screenshot('timeline');
  });

  it('finds every version of the keys matching a pattern, and diffs two snapshots', async () => {
    await openView('Search and diff');
    await page.getByLabel('Pattern').fill('photos/**');
    await page.getByRole('button', { name: 'Search' }).click();
    const versions = page.getByRole('table', { name: 'Versions found, by key, then by when first seen' });
    await poll(texts(versions.getByRole('rowheader'))).toEqual([
      'photos/cat.jpg',
      'photos/new ✓.txt',
      'photos/notes.txt',
      'photos/notes.txt',
    ]);
    await page.getByText(/^4 version\(s\) of 3 key\(s\); searched 2 snapshot\(s\)/).waitFor();
    await page.getByLabel('From').fill(first);
    await page.getByLabel('To').fill(second);
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.getByText(/^1 added, 0 removed, 1 modified from snapshot /).waitFor();
    await poll(texts(page.getByRole('table', { name: /^Changes in key order/ }).getByRole('row'))).toEqual([
      'Key\tChange\tSize before\tSize after',
      'photos/new ✓.txt\tadded\t-\t5 B',
      'photos/notes.txt\tmodified\t2 B\t9 B',
    ]);
    await screenshot('search');
  });

  it('restores through the wizard: select, dry run, confirm, follow the restore job; the bytes arrive', async () => {
    await openView('Restore');
    // 1. Select: the docs of the first snapshot, into another bucket, as a restore job.
    await page.getByLabel('Snapshot', { exact: true }).fill(first);
    await page.getByLabel('Prefix', { exact: true }).fill('docs/');
    await page.getByLabel('Target bucket').fill(TARGET);
    await page.getByLabel('Target prefix').fill('wizard/');
    await page.getByLabel(/^Run as a restore job/).check();
    // 2. Dry run: what would be written, and nothing written yet.
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText(/^Would restore 2 object\(s\), \d+ B of the 2 selected from snapshot /).waitFor();
    await poll(
      texts(page.getByRole('table', { name: 'Target keys the restore would write' }).getByRole('cell')),
    ).toEqual(['wizard/docs/read me.txt', 'wizard/docs/ünïcødé/naïve résumé.txt']);
    expect(await restored('wizard/docs/read me.txt')).toBeUndefined();
    await screenshot('restore-dry-run');
    // 3. Confirm.
    await page.getByRole('button', { name: 'Continue' }).click();
    await page
      .getByText(/into s3:\/\/console-restored\/wizard\/, overwrite: never, as a restore job\?$/)
      .waitFor();
    await page.getByRole('button', { name: 'Restore now' }).click();
    // 4. Follow: the restore job, to its report.
    await page.getByRole('status').filter({ hasText: 'Restore finished.' }).waitFor();
    await page.getByText(/^Restore job restore-\S+: SUCCEEDED$/).waitFor();
    await page.getByText(/^Restored 2 object\(s\), \d+ B of the 2 selected/).waitFor();
    await screenshot('restore-followed');
    expect(await restored('wizard/docs/read me.txt')).toBe(UPLOADS['docs/read me.txt']);
    expect(await restored('wizard/docs/ünïcødé/naïve résumé.txt')).toBe(
      UPLOADS['docs/ünïcødé/naïve résumé.txt'],
    );
    // The jobs view lists it, ended, its progress complete.
    await openView('Jobs');
    const job = page.getByRole('table', { name: 'Restore jobs, newest first' }).getByRole('row').nth(1);
    await poll(shown(job)).toContain('SUCCEEDED');
    expect(await job.getByRole('progressbar').getAttribute('value')).toBe('2');
    await screenshot('jobs');
  });

  it('is usable by keyboard: the views, a search typed and submitted, the focus where a view starts', async () => {
    await page.goto(`${served.origin}/#/plans`); // the token stays in this tab's session
    await page.reload(); // a fresh page: the focus at its start
    await page.getByRole('table').first().waitFor();
    const focused = () =>
      page.evaluate(() => {
        const e = document.activeElement as HTMLElement | null;
        return { id: e?.id ?? '', text: e?.textContent?.trim() ?? '', tag: e?.tagName ?? '' };
      });
    // Tab from the top: the skip link first, then the views.
    await page.keyboard.press('Tab');
    expect((await focused()).text).toBe('Skip to the view');
    let tabs = 0;
    while ((await focused()).text !== 'Search and diff' && tabs++ < 20) await page.keyboard.press('Tab');
    expect((await focused()).text).toBe('Search and diff');
    await page.keyboard.press('Enter');
    await poll(isFocused(page.getByRole('heading', { name: 'Search and diff', level: 2 }))).toBe(true);
    tabs = 0;
    while ((await focused()).id !== 'find-pattern' && tabs++ < 10) await page.keyboard.press('Tab');
    expect(await focused()).toMatchObject({ id: 'find-pattern', tag: 'INPUT' });
    await page.keyboard.type('docs/ünïcødé/*');
    await page.keyboard.press('Enter'); // submits the search form
    await poll(
      texts(
        page
          .getByRole('table', { name: 'Versions found, by key, then by when first seen' })
          .getByRole('rowheader'),
      ),
    ).toEqual(['docs/ünïcødé/naïve résumé.txt']);
    await screenshot('keyboard-search');
  });

  it('lists the DLQs with each message’s reason, and redrives them', async () => {
    // A poison task (no snapshot id): the snapshot function sends it to its DLQ at once, with the reason.
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.SnapshotQueue?.url,
        MessageBody: JSON.stringify({ kind: 'snapshot-plan', planId: PLAN }),
      }),
    );
    // A good task SQS had moved to the verify DLQ after its last receive (no reason attribute).
    const checkedAt = async () =>
      (await c.pipeline.catalog.getSnapshot(PLAN, second))?.verification?.tiers.catalog?.checkedAt;
    const before = await checkedAt();
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.queues.VerifyDLQ?.url,
        MessageBody: JSON.stringify({
          kind: 'verify-tier',
          planId: PLAN,
          snapshotId: second,
          tier: 'catalog',
        }),
      }),
    );
    const dlqs = new SqsDeadLetterQueues(c.sqs, c.config.queueUrls);
    // Waiting and in flight: a message just read (the console's peek) counts in flight a moment.
    const depth = async (queue: string) => {
      const q = (await dlqs.list()).find((d) => d.queue === queue);
      return q ? q.messages + q.inFlight : undefined;
    };
    await waitFor('the poison task in the snapshot DLQ', async () =>
      (await depth('snapshot')) === 1 ? true : undefined,
    );
    await openView('Dead letters');
    const queues = page.getByRole('table', { name: 'Dead-letter queue of each task queue' });
    await poll(
      shown(
        queues
          .getByRole('row', { name: /^snapshot / })
          .getByRole('cell')
          .nth(1),
      ),
    ).toBe('1');
    await poll(
      shown(
        queues
          .getByRole('row', { name: /^verify / })
          .getByRole('cell')
          .nth(1),
      ),
    ).toBe('1');
    await page.getByRole('button', { name: 'Show the messages of the snapshot DLQ' }).click();
    const poisoned = page
      .getByRole('table', { name: /^Messages in the snapshot DLQ/ })
      .getByRole('row')
      .nth(1);
    await poll(shown(poisoned)).toMatch(/^not a task\t.*snapshotId/);
    await screenshot('dead-letters');
    await page.getByRole('button', { name: 'Show the messages of the verify DLQ' }).click();
    const moved = page
      .getByRole('table', { name: /^Messages in the verify DLQ/ })
      .getByRole('row')
      .nth(1);
    await poll(shown(moved)).toMatch(
      new RegExp(
        `^verify-tier\\tjob ${PLAN}/${second}\\tno reason recorded: moved by SQS after \\d+ receive`,
      ),
    );
    // Redrive the verify DLQ (by keyboard once asked): the task runs again, and succeeds.
    await page.getByRole('button', { name: 'Redrive the verify DLQ' }).click();
    await poll(isFocused(page.getByRole('button', { name: 'Confirm redrive' }))).toBe(true);
    await page.keyboard.press('Enter');
    await page
      .getByRole('status')
      .filter({ hasText: 'Moved 1 message(s) back to the verify queue.' })
      .waitFor();
    await waitFor('the redriven verification', async () => {
      const after = await checkedAt();
      return after && after !== before ? after : undefined;
    });
    await stack.settled();
    expect(await depth('verify')).toBe(0);
    // Redrive the poison task: it runs again, and is dead-lettered again with its reason.
    await page.getByRole('button', { name: 'Redrive the snapshot DLQ' }).click();
    await page.getByRole('button', { name: 'Confirm redrive' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Moved 1 message(s) back to the snapshot queue.' })
      .waitFor();
    await waitFor('the poison task back in its DLQ', async () =>
      (await depth('snapshot')) === 1 ? true : undefined,
    );
    const [again] = await dlqs.peek('snapshot', 10);
    expect(again?.reasonAttribute).toMatch(/snapshotId/);
    expect(DLQ_REASON_ATTRIBUTE).toBe(RUNTIME_DLQ_REASON_ATTRIBUTE);
  });

  it('shows the cost by plan, region and storage class', async () => {
    await openView('Cost');
    const byRegion = page.getByRole('table', { name: 'By plan and region' });
    await poll(count(byRegion.getByRole('row'))).toBe(1 + 1 + stack.copyRegions.length);
    await poll(shown(byRegion.getByRole('row').nth(1))).toMatch(
      new RegExp(`^${PLAN}\\t${stack.primaryRegion}\\t2\\t`),
    );
    await poll(
      shown(page.getByRole('table', { name: 'By plan, region and storage class' }).getByRole('row').nth(1)),
    ).toContain('STANDARD');
    await screenshot('cost');
  });
});
