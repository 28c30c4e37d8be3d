/**
 * The rows imports committed (and the control API seeded), per environment, entity and legal
 * entity, keyed by the entity's key fields: what exports read and `GET /_emulator/rows` shows.
 */
import type { DataProjects } from './projects.js';
import type { EngineState } from './state.js';

/** Stored rows: env → entity (lower) → legal entity (upper) → key → row (column → value). */
export class RowStore {
  private readonly byEnvironment = new Map<
    string,
    Map<string, Map<string, Map<string, Record<string, string>>>>
  >();
  /** The label an entity was first stored under, by its lower-case form. */
  private readonly entityLabels = new Map<string, string>();

  constructor(private readonly projects: DataProjects) {}

  /** The rows of an entity and legal entity by key; created when `create` is set. */
  table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: true,
  ): Map<string, Record<string, string>>;
  table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: false,
  ): Map<string, Record<string, string>> | undefined;
  table(
    environment: string,
    entity: string,
    legalEntity: string,
    create: boolean,
  ): Map<string, Record<string, string>> | undefined {
    const lower = entity.toLowerCase();
    if (!this.entityLabels.has(lower)) this.entityLabels.set(lower, entity);
    let env = this.byEnvironment.get(environment);
    if (!env && create)
      this.byEnvironment.set(
        environment,
        (env = new Map<string, Map<string, Map<string, Record<string, string>>>>()),
      );
    let byEntity = env?.get(lower);
    if (!byEntity && create)
      env?.set(lower, (byEntity = new Map<string, Map<string, Record<string, string>>>()));
    let rows = byEntity?.get(legalEntity.toUpperCase());
    if (!rows && create)
      byEntity?.set(legalEntity.toUpperCase(), (rows = new Map<string, Record<string, string>>()));
    return rows;
  }

  /** Rows stored for an entity (label, case-insensitive) and legal entity. */
  list(environment: string, entity: string, legalEntity: string): Record<string, string>[] {
    return [...(this.table(environment, entity, legalEntity, false)?.values() ?? [])];
  }

  /** Adds rows directly (control API), as if imported. */
  seed(environment: string, entity: string, legalEntity: string, rows: Record<string, string>[]): void {
    const config = this.projects.entity(entity);
    const table = this.table(environment, config?.label ?? entity, legalEntity, true);
    for (const row of rows) {
      const upper = new Map(Object.entries(row).map(([k, v]) => [k.toUpperCase(), v]));
      const keyFields = config?.keyFields ?? [Object.keys(row)[0] ?? ''];
      table.set(keyFields.map((k) => (upper.get(k.toUpperCase()) ?? '').trim().toUpperCase()).join('|'), {
        ...row,
      });
    }
  }

  /** Every stored table, for the state file. */
  snapshot(): EngineState['rows'] {
    const rows: EngineState['rows'] = [];
    for (const [environment, byEntity] of this.byEnvironment) {
      for (const [lower, byLegalEntity] of byEntity) {
        for (const [legalEntity, table] of byLegalEntity) {
          rows.push({
            environment,
            entity: this.entityLabels.get(lower) ?? lower,
            legalEntity,
            rows: [...table.entries()],
          });
        }
      }
    }
    return rows;
  }

  /** Puts saved tables back (at start). */
  restore(tables: EngineState['rows']): void {
    for (const t of tables) {
      const table = this.table(t.environment, t.entity, t.legalEntity, true);
      for (const [key, row] of t.rows) table.set(key, row);
    }
  }

  /** Forgets every row (the entity labels seen stay). */
  clear(): void {
    this.byEnvironment.clear();
  }
}
