/** {@link DrillCatalog} on the catalog's table: a plan's drill history (`PLAN#<planId>` / `DRILLS`). */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DrillCatalog } from '#domain/ports.ts';
import type { DrillHistory } from '#domain/records.ts';
import { catalogFailure } from './errors.ts';
import type { Table } from './table.ts';

export class DynamoDbDrillCatalog implements DrillCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async getDrillHistory(planId: string): Promise<DrillHistory | undefined> {
    return this.#table.get<DrillHistory>(`PLAN#${planId}`, 'DRILLS');
  }

  async putDrillHistory(history: DrillHistory, expectedVersion: number): Promise<boolean> {
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: { pk: `PLAN#${history.planId}`, sk: 'DRILLS', ...history },
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`put drills of ${history.planId}`, error);
    }
  }
}
