/**
 * {@link DetectorCatalog} on the catalog's table, in the plan's detector partition
 * `DETECTOR#<planId>`: change counts per minute (`sk` `MINUTE#<YYYY-MM-DDTHH:MM>`, numbers added with
 * `ADD`, `expiresAt` in epoch seconds for the table's TTL) and findings
 * (`sk` `FINDING#<first minute>#<kind>`, written with a condition), and what the settings watch
 * last saw of the plan's bucket (`sk` `SETTINGS`).
 * @see ../../../docs/format.md#detector
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  type AnomalyFinding,
  type ChangeCounts,
  COUNT_FIELDS,
  type FindingWrite,
  type MinuteCounts,
  minuteOf,
} from '#domain/detector/model.ts';
import type { SourceSettingsRecord } from '#domain/detector/source-settings.ts';
import { sequencerSortKey } from '#domain/journal.ts';
import type { DetectorCatalog } from '#domain/ports.ts';
import type { JournalEntry } from '#domain/records.ts';
import { contentIdOf } from '#domain/vault.ts';
import { catalogFailure } from './errors.ts';
import type { Item, Table } from './table.ts';

const pkOf = (planId: string) => `DETECTOR#${planId}`;
/** What the settings watch last saw of the plan's bucket (one item, replaced on a change). */
const SETTINGS_SK = 'SETTINGS';
/** A minute's counts: the plan's (`MINUTE#<minute>`), or a prefix's (`MINUTE#<minute>#<prefix>`). */
const minuteSk = (minute: string, prefix?: string) =>
  prefix === undefined ? `MINUTE#${minute}` : `MINUTE#${minute}#${prefix}`;
/** A finding: the plan's (`FINDING#<minute>#<kind>`), or one prefix's (`…#<kind>#<prefix>`). */
const findingSk = (f: Pick<AnomalyFinding, 'firstSeenAt' | 'kind' | 'prefix' | 'perPrefix'>) =>
  f.perPrefix
    ? `FINDING#${minuteOf(f.firstSeenAt)}#${f.kind}#${f.prefix}`
    : `FINDING#${minuteOf(f.firstSeenAt)}#${f.kind}`;

export class DynamoDbDetectorCatalog implements DetectorCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async addChangeCounts(
    planId: string,
    minute: string,
    counts: Partial<ChangeCounts>,
    expiresAt: string,
    prefix?: string,
  ): Promise<void> {
    const added = COUNT_FIELDS.filter((f) => (counts[f] ?? 0) !== 0);
    if (added.length === 0) return;
    const values: Item = {
      ':plan': planId,
      ':minute': minute,
      ':exp': Math.ceil(Date.parse(expiresAt) / 1000),
      ...(prefix === undefined ? {} : { ':prefix': prefix }),
    };
    for (const f of added) values[`:${f}`] = counts[f];
    try {
      await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
          Key: { pk: pkOf(planId), sk: minuteSk(minute, prefix) },
          UpdateExpression: `SET planId = :plan, #minute = :minute, expiresAt = :exp${prefix === undefined ? '' : ', prefix = :prefix'} ADD ${added.map((f) => `${f} :${f}`).join(', ')}`,
          ExpressionAttributeNames: { '#minute': 'minute' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      throw catalogFailure(`count changes of plan ${planId} in ${minute}`, error);
    }
  }

  async listChangeCounts(planId: string, range: { from: string; to: string }): Promise<MinuteCounts[]> {
    const items = await this.#table.query<MinuteCounts & { expiresAt?: number }>({
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': pkOf(planId),
        ':from': minuteSk(range.from),
        // '$' sorts after '#': the last minute's prefix items (`MINUTE#<to>#<prefix>`) are in range.
        ':to': `${minuteSk(range.to)}$`,
      },
    });
    return items.map(({ expiresAt: _e, ...counts }) => counts);
  }

  async recordFinding(finding: AnomalyFinding): Promise<FindingWrite> {
    const { count, peakPerMinute, lastSeenAt, ...rest } = finding;
    const firstWrite: Item = { ...rest };
    const names: Record<string, string> = { '#count': 'count' };
    const values: Item = { ':count': count, ':peak': peakPerMinute, ':last': lastSeenAt };
    const sets = ['#count = :count', 'peakPerMinute = :peak', 'lastSeenAt = :last'];
    Object.entries(firstWrite)
      .filter(([, v]) => v !== undefined)
      .forEach(([k, v], i) => {
        names[`#f${i}`] = k;
        values[`:f${i}`] = v;
        sets.push(`#f${i} = if_not_exists(#f${i}, :f${i})`);
      });
    try {
      const out = await this.#table.doc.send(
        new UpdateCommand({
          TableName: this.#table.name,
          Key: { pk: pkOf(finding.planId), sk: findingSk(finding) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_not_exists(pk) OR #count < :count',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      return out.Attributes?.count === undefined ? 'created' : 'raised';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'unchanged';
      throw catalogFailure(`record a finding of plan ${finding.planId}`, error);
    }
  }

  async getSourceSettings(planId: string): Promise<SourceSettingsRecord | undefined> {
    return this.#table.get<SourceSettingsRecord>(pkOf(planId), SETTINGS_SK);
  }

  async putSourceSettings(record: SourceSettingsRecord): Promise<void> {
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: { pk: pkOf(record.planId), sk: SETTINGS_SK, ...record },
        }),
      );
    } catch (error) {
      throw catalogFailure(`record the bucket settings of plan ${record.planId}`, error);
    }
  }

  async latestJournalEntryBefore(
    planId: string,
    key: string,
    before?: string,
  ): Promise<Pick<JournalEntry, 'outcome' | 'sequencer' | 'encryption'> | undefined> {
    // The journal's per-key items (journal.ts): `JKEY#<planId>#<sha256(key)>`, sorted by sequencer;
    // a long blob list's overflow chunks share the partition (`chunkOf`): skipped.
    const values: Item = { ':pk': `JKEY#${planId}#${contentIdOf(key)}` };
    if (before !== undefined) values[':before'] = sequencerSortKey(before);
    let start: Record<string, unknown> | undefined;
    try {
      do {
        const out = await this.#table.doc.send(
          new QueryCommand({
            TableName: this.#table.name,
            KeyConditionExpression: before === undefined ? 'pk = :pk' : 'pk = :pk AND sk < :before',
            ExpressionAttributeValues: values,
            ProjectionExpression: 'outcome, sequencer, encryption, chunkOf',
            ScanIndexForward: false,
            ConsistentRead: true,
            Limit: 10,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        const entry = (out.Items ?? []).find((i) => i.chunkOf === undefined);
        if (entry) {
          const { outcome, sequencer, encryption } = entry as JournalEntry;
          return { outcome, sequencer, ...(encryption ? { encryption } : {}) };
        }
        start = out.LastEvaluatedKey;
      } while (start);
      return undefined;
    } catch (error) {
      throw catalogFailure(`the journal of ${key} before ${before ?? 'now'}`, error);
    }
  }

  async listFindings(planId: string): Promise<AnomalyFinding[]> {
    return this.#table.query<AnomalyFinding>({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :f)',
      ExpressionAttributeValues: { ':pk': pkOf(planId), ':f': 'FINDING#' },
    });
  }
}
