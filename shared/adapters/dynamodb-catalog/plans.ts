/**
 * {@link PlanCatalog} on the catalog's table: items `PLAN` / `<planId>`, and quarantines
 * `QUARANTINE` / `<planId>`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { PlanCatalog } from '#domain/ports.ts';
import type { PlanRecord, QuarantineRecord } from '#domain/records.ts';
import { catalogFailure } from './errors.ts';
import type { Table } from './table.ts';

export class DynamoDbPlanCatalog implements PlanCatalog {
  readonly #table: Table;

  constructor(table: Table) {
    this.#table = table;
  }

  async putPlans(plans: readonly PlanRecord[]): Promise<void> {
    await this.#table.call('put plans', async () => {
      for (let i = 0; i < plans.length; i += 25) {
        await this.#table.doc.send(
          new TransactWriteCommand({
            TransactItems: plans
              .slice(i, i + 25)
              .map((p) => ({ Put: { TableName: this.#table.name, Item: { pk: 'PLAN', sk: p.id, ...p } } })),
          }),
        );
      }
    });
  }

  async getPlan(planId: string): Promise<PlanRecord | undefined> {
    return this.#table.get<PlanRecord>('PLAN', planId);
  }

  async listPlans(): Promise<PlanRecord[]> {
    return this.#table.query<PlanRecord>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'PLAN' },
    });
  }

  async putQuarantine(quarantine: QuarantineRecord): Promise<boolean> {
    try {
      await this.#table.doc.send(
        new PutCommand({
          TableName: this.#table.name,
          Item: { pk: 'QUARANTINE', sk: quarantine.planId, ...quarantine },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`quarantine plan ${quarantine.planId}`, error);
    }
  }

  async getQuarantine(planId: string): Promise<QuarantineRecord | undefined> {
    return this.#table.get<QuarantineRecord>('QUARANTINE', planId);
  }

  async listQuarantines(): Promise<QuarantineRecord[]> {
    return this.#table.query<QuarantineRecord>({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'QUARANTINE' },
    });
  }

  async liftQuarantine(planId: string): Promise<boolean> {
    try {
      await this.#table.doc.send(
        new DeleteCommand({
          TableName: this.#table.name,
          Key: { pk: 'QUARANTINE', sk: planId },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw catalogFailure(`lift the quarantine of plan ${planId}`, error);
    }
  }
}
