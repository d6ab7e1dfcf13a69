/** {@link PlanCatalog} on the catalog's table: items `PLAN` / `<planId>`. */
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { PlanCatalog } from '#domain/ports.ts';
import type { PlanRecord } from '#domain/records.ts';
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
}
