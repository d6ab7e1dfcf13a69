// Runs the real `npm run package` (esbuild + yazl + osls, offline) and checks the CloudFormation it
// produces against serverless.yml. Skipped until the real handlers exist. (template.test.ts checks
// the security and operations side of the template.)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readYaml } from '../support/cloudformation.ts';
import { type Packaged, PROJECT_ROOT as root, runPackage } from '../support/package.ts';

const handlersMissing = !existsSync(path.join(root, 'functions', 'snapshot.ts'));
const skipReason = handlersMissing
  ? ' [skipped: functions/snapshot.ts does not exist yet, so there is nothing real to package]'
  : '';

interface Resource {
  Type: string;
  Properties?: Record<string, unknown>;
}

interface Template {
  Resources: Record<string, Resource>;
}

interface ServerlessFunction {
  handler: string;
  events?: Record<string, unknown>[];
}

function readFunctions(): Record<string, ServerlessFunction> {
  const config = readYaml<{ functions: Record<string, ServerlessFunction> }>(
    path.join(root, 'serverless.yml'),
  );
  return config.functions;
}

// File names in a zip, read from its central directory (enough for the zips yazl writes: no zip64).
function zipEntries(file: string): string[] {
  const zip = readFileSync(file);
  let eocd = zip.length - 22;
  while (eocd >= 0 && zip.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  if (eocd < 0) throw new Error(`${file}: no end of central directory record`);
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${i}`);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    names.push(zip.toString('utf8', offset + 46, offset + 46 + nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return names;
}

// `{ 'Fn::GetAtt': ['X', 'Arn'] }` -> 'X'
function getAttTarget(value: unknown): string | undefined {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return getAtt[0] as string;
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

describe.skipIf(handlersMissing)(`npm run package${skipReason}`, () => {
  const functions = handlersMissing ? {} : readFunctions();
  const names = Object.keys(functions);
  // capture's events come from a variable (one pair per protected bucket): not a list here.
  const eventsOf = (name: string) => {
    const events = functions[name]?.events;
    return Array.isArray(events) ? events : [];
  };
  const sqsFed = names.filter((name) => eventsOf(name).some((event) => 'sqs' in event));
  let template: Template;
  const resources = (type: string) =>
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
  const lambdaFor = (name: string): [string, Resource] => {
    const handler = functions[name]?.handler;
    const found = resources('AWS::Lambda::Function').filter(([, fn]) => fn.Properties?.Handler === handler);
    expect(found, `AWS::Lambda::Function with Handler ${handler}`).toHaveLength(1);
    return found[0] as [string, Resource];
  };

  let packaged: Packaged | undefined;

  beforeAll(async () => {
    packaged = await runPackage();
    template = packaged.template as Template;
  }, 300_000);

  afterAll(async () => {
    await packaged?.dispose();
  });

  it('serverless.yml declares the pipeline functions', () => {
    expect(names).toEqual(
      expect.arrayContaining(['scheduler', 'snapshot', 'copy', 'verify', 'prune', 'restore']),
    );
    expect(sqsFed.length).toBeGreaterThan(0);
  });

  it('has one Lambda function per serverless.yml function, on Node 22/24, with its handler', () => {
    for (const name of names) {
      expect(functions[name]?.handler).toBe(`functions/${name}.handler`);
      const [, fn] = lambdaFor(name);
      expect(fn.Properties?.Runtime).toMatch(/^nodejs(22|24)\.x$/);
      expect((fn.Properties?.Code as { S3Key?: string } | undefined)?.S3Key).toMatch(
        new RegExp(`/${name}\\.zip$`),
      );
    }
  });

  it('feeds every SQS function through an event source mapping that reports batch item failures', () => {
    for (const name of sqsFed) {
      const [logicalId] = lambdaFor(name);
      const mappings = resources('AWS::Lambda::EventSourceMapping').filter(
        ([, mapping]) => getAttTarget(mapping.Properties?.FunctionName) === logicalId,
      );
      expect(mappings.length, `event source mapping for ${name}`).toBeGreaterThan(0);
      for (const [, mapping] of mappings) {
        expect(mapping.Properties?.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      }
    }
  });

  it('gives each task queue a visibility timeout of at least 6x its function timeout and a DLQ', () => {
    for (const name of sqsFed) {
      const [logicalId, fn] = lambdaFor(name);
      const timeout = fn.Properties?.Timeout as number;
      expect(timeout).toBeGreaterThan(0);
      const mappings = resources('AWS::Lambda::EventSourceMapping').filter(
        ([, mapping]) => getAttTarget(mapping.Properties?.FunctionName) === logicalId,
      );
      for (const [, mapping] of mappings) {
        const queueId = getAttTarget(mapping.Properties?.EventSourceArn);
        const queue = queueId ? template.Resources[queueId] : undefined;
        expect(queue?.Type, `queue ${queueId} of ${name}`).toBe('AWS::SQS::Queue');
        expect(queue?.Properties?.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
        const redrive = queue?.Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined;
        const dlqId = getAttTarget(redrive?.deadLetterTargetArn);
        expect(dlqId, `DLQ of ${queueId}`).toBeDefined();
        expect(template.Resources[dlqId as string]?.Type).toBe('AWS::SQS::Queue');
      }
    }
  });

  it('schedules the scheduler', () => {
    const [logicalId] = lambdaFor('scheduler');
    const rules = resources('AWS::Events::Rule').filter(([, rule]) =>
      (rule.Properties?.Targets as { Arn?: unknown }[] | undefined)?.some(
        (target) => getAttTarget(target.Arn) === logicalId,
      ),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.[1].Properties?.ScheduleExpression).toMatch(/^(rate|cron)\(/);
  });

  it('writes a zip per function holding functions/<name>.mjs', () => {
    for (const name of names) {
      const zip = path.join(packaged?.buildDir ?? '', `${name}.zip`);
      expect(existsSync(zip), zip).toBe(true);
      expect(zipEntries(zip)).toContain(`functions/${name}.mjs`);
    }
  });
});
