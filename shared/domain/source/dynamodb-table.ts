/**
 * A DynamoDB table as a {@link Source}: what capture and journal-built snapshots ask of it (whether
 * a journal entry is its own, how to name a key). A table is not read object by object: its
 * snapshots scan it (shared/domain/table/), so `list`, `read` and `currentVersion` refuse.
 * Journal entries of a table name it as their container (`bucket`) `dynamodb:<table>`, and an item
 * by its item key (table/item.ts). @see ../../../docs/format.md#table-items
 */
import { ValidationError } from '../errors.ts';
import type { TableSourceSpec } from '../plan.ts';
import type { CurrentVersion } from '../ports.ts';
import type { ItemToRead, Source, SourceItem, SourceKind, SourceRead } from './source.ts';

/** The container a table's journal entries name in their `bucket` field. */
export function tableContainerOf(table: string): string {
  return `dynamodb:${table}`;
}

export class DynamoDBTableSource implements Source {
  readonly kind: SourceKind = 'dynamodb-table';
  readonly #spec: TableSourceSpec;

  constructor(spec: TableSourceSpec) {
    this.#spec = spec;
  }

  #refuse(what: string): never {
    throw new ValidationError(
      `${what} of ${this.uriOf('')}: a table is read by its scan (shared/domain/table), not object by object`,
    );
  }

  // biome-ignore lint/correctness/useYield: refuses before yielding anything
  async *list(_options?: { startAfter?: string }): AsyncIterable<SourceItem> {
    this.#refuse('a listing');
  }

  async read(_item: ItemToRead): Promise<SourceRead> {
    return this.#refuse('a read');
  }

  async currentVersion(_key: string): Promise<CurrentVersion | undefined> {
    return this.#refuse('a version');
  }

  covers(where: { bucket: string; key: string }): boolean {
    return where.bucket === tableContainerOf(this.#spec.table);
  }

  uriOf(key: string): string {
    return `dynamodb://${this.#spec.region ? `${this.#spec.region}/` : ''}${this.#spec.table}/${key}`;
  }
}
